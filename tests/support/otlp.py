"""A stand-in for an OpenTelemetry collector: a real OTLP/HTTP server on 127.0.0.1 that
accepts `POST /v1/traces` (protobuf, optionally gzip) from the services' exporters and
decodes the spans with opentelemetry-proto, so tests can look at whole traces across
processes. With keep=False it answers and throws the spans away (for benchmarks)."""

from __future__ import annotations

import gzip
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_OK = ExportTraceServiceResponse().SerializeToString()


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    attributes: dict[str, Any] = field(hash=False)
    status: int  # 0 unset, 1 ok, 2 error
    start_ns: int
    end_ns: int


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def decode(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest.FromString(body)
    out = []
    for rs in request.resource_spans:
        resource = {a.key: _value(a.value) for a in rs.resource.attributes}
        service = str(resource.get("service.name", ""))
        for scope in rs.scope_spans:
            for s in scope.spans:
                out.append(
                    Span(
                        service,
                        s.name,
                        KINDS.get(s.kind, str(s.kind)),
                        s.trace_id.hex(),
                        s.span_id.hex(),
                        s.parent_span_id.hex(),
                        {a.key: _value(a.value) for a in s.attributes},
                        s.status.code,
                        s.start_time_unix_nano,
                        s.end_time_unix_nano,
                    )
                )
    return out


class Collector:
    def __init__(self, *, keep: bool = True) -> None:
        self.keep = keep
        self.lock = threading.Lock()
        self.spans: list[Span] = []
        self.requests = 0
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector.receive(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(_OK)))
                self.end_headers()
                self.wfile.write(_OK)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def receive(self, body: bytes) -> None:
        spans = decode(body) if self.keep else []
        with self.lock:
            self.requests += 1
            self.spans.extend(spans)

    def start(self) -> Collector:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def traces_with(self, predicate: Any) -> dict[str, list[Span]]:
        """Every trace holding a span for which predicate(span) is true."""
        with self.lock:
            ids = {s.trace_id for s in self.spans if predicate(s)}
            grouped: dict[str, list[Span]] = defaultdict(list)
            for s in self.spans:
                if s.trace_id in ids:
                    grouped[s.trace_id].append(s)
        return dict(grouped)

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> dict[str, list[Span]]:
        """Poll until some trace holds a matching span (exports are batched)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.traces_with(predicate)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
