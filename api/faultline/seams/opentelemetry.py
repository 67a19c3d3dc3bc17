"""OpenTelemetry's log signal, whose SDK classes are still in underscored modules (SDK 1.45).

The exporter interface a log exporter must subclass for the SDK's configurator to accept it
(`issubclass(..., LogRecordExporter)`), and its result type. Nothing else of the logs SDK is used.
"""

from __future__ import annotations

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

__all__ = ["LogRecordExportResult", "LogRecordExporter"]
