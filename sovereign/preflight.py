"""The checks before a deploy touches anything: each host's inventory data validated into its
spec, and the artifacts the hosts need verified (the agent's wheelhouse rebuilt when the code
changed). `sovereign check` runs them alone; `sovereign deploy` runs them in its pyinfra process
(sovereign/pyinfra_run.py) before pyinfra connects.
"""

from __future__ import annotations

from pathlib import Path

from controller.artifacts import WHEELHOUSE, ensure_wheelhouse, verify
from controller.errors import SovereignError
from roles.nextcloud.artifact import tarball_problem as nextcloud_tarball_problem
from roles.requirements import preflight_host
from roles.settings import RoleSettingsError
from roles.spec import HostSpec
from sovereign.inventory import InventoryHost

# The line the deploy's pyinfra process prints (with the message as JSON) when the preflight
# refused the inventory; the runner turns it back into a SovereignError.
PREFLIGHT_FAILED = "sovereign-preflight-failed: "


def preflight(hosts: list[InventoryHost]) -> dict[str, HostSpec]:
    """Validate each host's inventory data into its spec and verify the artifacts it needs.

    Every bad field of every host is reported at once, before any artifact is hashed.
    """
    specs: dict[str, HostSpec] = {}
    needed: set[tuple[Path, str]] = set()
    problems: list[str] = []
    for h in hosts:
        try:
            spec, artifacts = preflight_host(h.name, h.data)
        except RoleSettingsError as exc:
            problems.append(str(exc))
            continue
        specs[h.name] = spec
        needed |= {(spec.artifacts_dir, name) for name in artifacts}
    if problems:
        raise SovereignError("\n".join(problems))
    tarballs = [p for spec in specs.values() if (p := nextcloud_tarball_problem(spec))]
    if tarballs:  # the operator's own download: one line each, before anything is hashed more
        raise SovereignError("\n".join(tarballs))
    # Hosts share a cache: hash each artifact once, not once per host (bao is ~180 MB).
    for directory, name in sorted(needed):
        if name == WHEELHOUSE:  # built from this checkout: rebuilt when the code changed
            ensure_wheelhouse(directory, say=lambda text: print(f"[artifacts] {text}"))
        else:
            verify(directory, name)
    return specs
