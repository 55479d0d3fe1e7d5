"""Where the project's own files and tools are, for the CLI modules that run them."""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def pyinfra_bin() -> str:
    """pyinfra from this interpreter's venv (falls back to PATH)."""
    candidate = Path(sys.executable).with_name("pyinfra")
    return str(candidate) if candidate.exists() else "pyinfra"
