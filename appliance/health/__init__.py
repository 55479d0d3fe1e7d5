"""Health checks: a registry of small check classes run concurrently in the background."""
