"""The small JSON state files the backup runners leave for the agent: each run's outcome under
its kind (`backup`, `restore_check`, `snapshot`), and the last successful one beside it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def record(path: Path, kind: str, entry: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Write `last_<kind>` (and `last_<kind>_success` when entry["ok"]) and `extra` keys,
    keeping the rest of the file; atomically (tmp + rename), readable by the agent."""
    state = read_state(path)
    state[f"last_{kind}"] = entry
    if entry.get("ok"):
        state[f"last_{kind}_success"] = entry
    state.update(extra)
    write_text(path, json.dumps(state, indent=2, sort_keys=True) + "\n")
    return state


def write_text(path: Path, text: str) -> None:
    """Replace `path` atomically (tmp + rename), readable by the agent (another user)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    Path(tmp).chmod(0o644)
    Path(tmp).replace(path)
