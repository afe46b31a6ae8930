"""A stand-in for the Kubernetes API server, enough for agentctl's port-forward: the
Service and Pod reads, and pods/portforward over a websocket (v4.channel.k8s.io: a channel
byte before each frame, the port number first on each channel), forwarding to a real local
port. The real thing is exercised by tests/cluster/test_agentctl.py on a live cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from agent_common.devstack import free_port

SERVICE = "api-gateway-service"
POD = "gateway-7d4b9c-x2x9z"
LABELS = {"app.kubernetes.io/name": "gateway"}


class FakeKubeApi:
    def __init__(self, namespace: str, forward_to: int) -> None:
        self.namespace = namespace
        self.forward_to = forward_to  # the local port every pod port goes to
        self.port = free_port()
        self.requests: list[str] = []
        self.streams = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path, context: str = "fake") -> Path:
        path.write_text(
            json.dumps(
                {  # JSON is YAML
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": context,
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                    "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}],
                }
            )
        )
        return path

    def start(self) -> FakeKubeApi:
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main(ready)), daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)

    async def _main(self, ready: threading.Event) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(
            self._stream,
            "127.0.0.1",
            self.port,
            process_request=self._rest,
            subprotocols=["v4.channel.k8s.io"],
        ):  # type: ignore[list-item]
            ready.set()
            await self._stop.wait()

    # ---- REST: the Service and its Pods -----------------------------------------------------

    def _rest(self, connection: ServerConnection, request: Request) -> Response | None:
        self.requests.append(request.path)
        path = request.path.split("?")[0]
        if path.endswith("/portforward"):
            return None  # go on with the websocket handshake
        ns = f"/api/v1/namespaces/{self.namespace}"
        if path == f"{ns}/services/{SERVICE}":
            return _json(200, self._service())
        if path == f"{ns}/pods":
            return _json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [self._pod()]})
        return _json(
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "message": f"{path} not found",
                "code": 404,
            },
        )

    def _service(self) -> dict[str, Any]:
        return {
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {"name": SERVICE, "namespace": self.namespace},
            "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]},
        }

    def _pod(self) -> dict[str, Any]:
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": POD, "namespace": self.namespace, "labels": LABELS},
            "spec": {
                "containers": [
                    {
                        "name": "gateway",
                        "image": "gateway",
                        "ports": [{"name": "http", "containerPort": 8080}],
                    }
                ]
            },
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        }

    # ---- the port-forward stream --------------------------------------------------------------

    async def _stream(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        match = re.search(r"[?&]ports=(\d+)", ws.request.path)
        port = int(match.group(1)) if match else 0
        self.streams += 1
        header = bytes((port & 0xFF, port >> 8))
        await ws.send(b"\x00" + header)  # data channel
        await ws.send(b"\x01" + header)  # error channel
        reader, writer = await asyncio.open_connection("127.0.0.1", self.forward_to)

        async def upstream_to_client() -> None:
            while data := await reader.read(65536):
                await ws.send(b"\x00" + data)
            await ws.close()

        pump = asyncio.create_task(upstream_to_client())
        try:
            async for frame in ws:
                if isinstance(frame, bytes) and frame[:1] == b"\x00":
                    writer.write(frame[1:])
                    await writer.drain()
        except ConnectionClosed:
            pass
        finally:
            pump.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _json(status: int, body: dict[str, Any]) -> Response:
    data = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found"}[status]
    headers = Headers(
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("Connection", "close")]
    )
    return Response(status, reason, headers, data)
