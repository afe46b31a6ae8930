"""`python -m agent_chat`: serve the chat API on PORT (3001)."""

from agent_chat.app import create_app
from agent_chat.settings import ChatSettings
from agent_common import serve


def main() -> None:
    settings = ChatSettings()
    serve.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
