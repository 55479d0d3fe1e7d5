"""The end-to-end latency monitor's probe records (issue 15).

Kept beside schema.py, on the same metadata, so each feature's tables live in a module of
their own; schema.py imports this module at its end, so importing schema registers them.
"""

from __future__ import annotations

from appliance.database.schema import metadata

__all__ = ["metadata"]
