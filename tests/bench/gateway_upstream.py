"""The benchmark's upstream: uvicorn (uvloop, httptools) answering every request with the
same small JSON body, as a plain ASGI app so that the upstream is not what is measured.

`python -m tests.bench.gateway_upstream PORT`
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.types import Receive, Scope, Send

BODY = (
    b'[{"task_id":"7d4f0c1e-2b7a-4c1e-9d57-0f3e1c2b3a4d","status":"completed",'
    b'"title":"Summarize","result":"A short summary.","error":null}]'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
