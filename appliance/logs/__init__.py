"""Logs: the host journal behind /api/logs, and the scrubber every text leaves through."""
