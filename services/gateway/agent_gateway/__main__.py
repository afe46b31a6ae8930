"""`python -m agent_gateway`: serve the public API on PORT (8080)."""

import uvicorn

from agent_gateway.app import create_app
from agent_gateway.server import GatewayHttpProtocol
from agent_gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=GatewayHttpProtocol,  # httptools, writes coalesced per loop turn
        log_config=None,
        access_log=False,
        server_header=False,
        # the gateway is the edge: it reads X-Forwarded-* itself (settings.trusted_proxy_hops)
        proxy_headers=False,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=75,
        backlog=2048,
    )


if __name__ == "__main__":
    main()
