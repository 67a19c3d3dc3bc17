"""A stand-in for the OpenTelemetry collector's OTLP/HTTP receiver.

The real collector has no package for this machine (no Docker, nothing on PyPI/apt), so tests and
the benchmark point the API's OTLP exporter here instead. It accepts what the collector would
(POST /v1/traces, /v1/logs, /v1/metrics; protobuf, optionally gzip), decodes it with the official
OTLP protobuf definitions and keeps it for assertions. It does nothing else: no processing, no
forwarding. Run it in-process (`OtlpSink()`) or as its own process (`python -m
labkit.otlp_sink --port N [--discard]`; the benchmarks run it so, off the API's process,
and with --discard: parsed, not kept).
"""

from __future__ import annotations

import argparse
import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def _value(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs if isinstance(kv, KeyValue)}


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status_code: int
    start_ns: int
    end_ns: int


@dataclass
class LogRecord:
    body: Any
    trace_id: str
    span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    severity: str


@dataclass(frozen=True)
class Export:
    """One export request as it arrived: where, with which headers, how many items."""

    path: str
    headers: dict[str, str]
    items: int


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # False: decode each request (the protobuf parser, in C) and keep nothing. What the benchmark
    # uses: a collector parses what it receives, in Go; building Python objects for every span
    # would cost this machine's two cores several times what a collector does, in bursts that
    # would be charged to the API under test.
    keep: bool = True

    def add_traces(self, payload: bytes) -> int:
        request = ExportTraceServiceRequest.FromString(payload)
        count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        if not self.keep:
            return count
        spans = []
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    spans.append(
                        Span(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            attributes=attributes(s.attributes),
                            resource=resource,
                            status_code=s.status.code,
                            start_ns=s.start_time_unix_nano,
                            end_ns=s.end_time_unix_nano,
                        )
                    )
        with self.lock:
            self.spans.extend(spans)
        return count

    def add_logs(self, payload: bytes) -> int:
        request = ExportLogsServiceRequest.FromString(payload)
        count = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
        if not self.keep:
            return count
        records = []
        for resource_logs in request.resource_logs:
            resource = attributes(resource_logs.resource.attributes)
            for scope_logs in resource_logs.scope_logs:
                for r in scope_logs.log_records:
                    records.append(
                        LogRecord(
                            body=_value(r.body),
                            trace_id=r.trace_id.hex(),
                            span_id=r.span_id.hex(),
                            attributes=attributes(r.attributes),
                            resource=resource,
                            severity=r.severity_text,
                        )
                    )
        with self.lock:
            self.logs.extend(records)
        return count

    def add_export(self, export: Export) -> None:
        if self.keep:
            with self.lock:
                self.exports.append(export)

    def spans_of(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def snapshot(self) -> tuple[list[Span], list[LogRecord]]:
        with self.lock:
            return list(self.spans), list(self.logs)


def _handler(received: Received, delay_seconds: float = 0) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as the collector's receiver does: an exporter's next batch reuses the
        # connection (HTTP/1.0 would make it connect again for every batch).
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if delay_seconds:  # a collector too slow to answer (export timeouts)
                time.sleep(delay_seconds)
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            items = 0
            if self.path == "/v1/traces":
                items = received.add_traces(body)
            elif self.path == "/v1/logs":
                items = received.add_logs(body)
            elif self.path != "/v1/metrics":
                self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            received.add_export(Export(self.path, headers, items))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class OtlpSink:
    """An in-process OTLP/HTTP receiver on 127.0.0.1 (see the module docstring)."""

    def __init__(self, port: int = 0, keep: bool = True, delay_seconds: float = 0) -> None:
        self.received = Received(keep=keep)
        handler = _handler(self.received, delay_seconds)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.port = int(self.server.server_address[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self) -> Iterator[Span]:
        yield from self.received.snapshot()[0]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--discard", action="store_true", help="parse what arrives, keep nothing (benchmarks)"
    )
    args = parser.parse_args()
    sink = OtlpSink(args.port, keep=not args.discard)
    sink.server.serve_forever()
