"""The deploy's pyinfra process: the preflight, then pyinfra's own CLI, in one interpreter.

`sovereign deploy` starts `python -m sovereign.pyinfra_run INVENTORY DEPLOY_FILES… [pyinfra
options]` instead of `pyinfra`: the inventory is loaded once (pyinfra's own loader), every host
is validated and the artifacts are verified before pyinfra connects anywhere, and Python starts
once. Importing pyinfra_cli patches the process with gevent, as pyinfra itself does: one reason
this is a child process and not the operator CLI's own.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from pathlib import Path

import pyinfra_cli  # noqa: F401 - first: it patches the stdlib for gevent before anything uses it
from pyinfra.api import State, arguments, facts, util
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory
from pyinfra_cli.main import main as pyinfra_main

from controller.errors import SovereignError
from sovereign.inventory import InventoryHost
from sovereign.preflight import PREFLIGHT_FAILED, preflight


def skip_source_lines_in_call_stacks() -> None:
    """pyinfra orders operations by the file names and line numbers of the deploy code that
    called them, read with inspect.stack() and getframeinfo() for every operation; both also
    load each frame's source lines, which nothing uses: ~1.1 s of a one-host no-op deploy.
    Asking them for no source lines leaves names and numbers, so the order, as they were."""
    setattr(util, "stack", functools.partial(inspect.stack, 0))  # noqa: B010
    setattr(util, "getframeinfo", functools.partial(inspect.getframeinfo, context=0))  # noqa: B010


def global_argument_types_once() -> None:
    """pyinfra evaluates the type hints of its global arguments (32 of them, `get_type_hints`)
    on every operation call and fact read, to the same list each time: evaluate them once."""
    setattr(arguments, "all_global_arguments", functools.cache(arguments.all_global_arguments))  # noqa: B010
    setattr(facts, "all_global_arguments", arguments.all_global_arguments)  # noqa: B010


def run(argv: list[str]) -> int:
    skip_source_lines_in_call_stacks()
    global_argument_types_once()
    with ctx_state.use(State()):  # pyinfra's loader records the file it runs on a state
        inventory = make_inventory(argv[0], cwd=str(Path.cwd()))
    hosts = [InventoryHost(h.name, tuple(map(str, h.groups)), h.data.dict()) for h in inventory]
    try:
        preflight(hosts)
    except SovereignError as exc:
        print(PREFLIGHT_FAILED + json.dumps(str(exc)), flush=True)
        return 2
    sys.argv = ["pyinfra", *argv]
    try:
        pyinfra_main()  # click: exits with pyinfra's status
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
