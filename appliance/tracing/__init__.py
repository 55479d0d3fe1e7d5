"""Traces: the agent's spans (OpenTelemetry SDK) and what services send over OTLP."""
