"""`python -m agent_orchestrator`: serve the API on PORT (8000)."""

from agent_common import serve
from agent_orchestrator.app import create_app
from agent_orchestrator.settings import OrchestratorSettings


def main() -> None:
    settings = OrchestratorSettings()
    serve.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
