"""Telemetry: Prometheus metrics (with exemplars), OpenTelemetry traces and logs, loop lag."""
