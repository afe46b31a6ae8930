"""The frontend's settings (each an environment variable). API_GATEWAY_URL is shared."""

from __future__ import annotations

from pydantic import Field

from agent_common.settings import Settings


class FrontendSettings(Settings):
    service_name: str = Field("frontend", validation_alias="SERVICE_NAME")
    host: str = "0.0.0.0"
    port: int = 3000
    # proxy /api to API_GATEWAY_URL; off on Kubernetes, where the HTTPRoute sends /api to the gateway
    proxy_api: bool = True
    proxy_connect_timeout_s: float = Field(3.0, gt=0)
    # per read; event streams (Accept: text/event-stream) have no read timeout
    proxy_read_timeout_s: float = Field(60.0, gt=0)
    proxy_max_connections: int = Field(100, ge=1)
    proxy_max_keepalive: int = Field(20, ge=0)
