"""`python -m agent_frontend`: serve the page on PORT (3000)."""

from agent_common import serve
from agent_frontend.app import create_app
from agent_frontend.settings import FrontendSettings


def main() -> None:
    settings = FrontendSettings()
    serve.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
