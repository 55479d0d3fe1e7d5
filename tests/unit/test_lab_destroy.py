"""`sovereign lab destroy HOST`: one host's root and disks go, the rest of the lab stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import SovereignError
from sovereign.lab.manager import lab_destroy_host, write_client_files
from sovereign.lab.state import HostState, LabPaths, LabState, load_state, save_state
from sovereign.progress import Progress


def make_lab(root: Path, monkeypatch: pytest.MonkeyPatch) -> LabPaths:
    """A lab of two stopped hosts on disk (roots with a file, disks, pinned keys), and the
    controller's Vault directory of each."""
    monkeypatch.setenv("SOVEREIGN_LAB_ROOT", str(root))
    state = LabState(name="tdx", subnet="10.99.7.0/24")
    paths = LabPaths("tdx")
    for index in (1, 2):
        name = state.host_name(index)
        host_dir = paths.host_dir(name)
        (host_dir / "root" / "etc").mkdir(parents=True)
        (host_dir / "root" / "etc" / "os-release").write_text("ID=debian\n")
        (host_dir / "disks").mkdir()
        (host_dir / "disks" / "disk1").write_bytes(b"\0" * 16)
        paths.vault_dir(name).mkdir(parents=True)
        (paths.vault_dir(name) / "deploy-approle.json").write_text("{}")
        state.hosts[name] = HostState(
            name=name, address=state.host_address(index), root=str(host_dir / "root"),
            disks=["/lab/disks/disk1"], host_key=f"ssh-ed25519 KEY{index}",
        )  # fmt: skip
    save_state(state)
    write_client_files(paths, state)
    return paths


def test_destroys_one_host_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = make_lab(tmp_path, monkeypatch)
    lab_destroy_host("tdx", "tdx-1", Progress("lab"))
    assert not paths.host_dir("tdx-1").exists()
    assert (paths.host_dir("tdx-2") / "disks" / "disk1").exists()
    state = load_state("tdx")
    assert state is not None and sorted(state.hosts) == ["tdx-2"]
    # The controller side of the lost host stays: a rebuild needs its CA and keys.
    assert (paths.vault_dir("tdx-1") / "deploy-approle.json").exists()
    known = paths.known_hosts.read_text()
    assert "tdx-1" not in known and "tdx-2" in known  # a new host will have a new key
    assert "tdx-1" not in paths.ssh_config.read_text()


def test_an_unknown_host_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = make_lab(tmp_path, monkeypatch)
    with pytest.raises(SovereignError, match=r"no host 'tdx-3'.*tdx-1"):
        lab_destroy_host("tdx", "tdx-3", Progress("lab"))
    assert paths.host_dir("tdx-1").exists() and paths.host_dir("tdx-2").exists()


def test_a_lab_that_is_not_up_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOVEREIGN_LAB_ROOT", str(tmp_path))
    with pytest.raises(SovereignError, match="lab tdy is not up"):
        lab_destroy_host("tdy", "tdy-1", Progress("lab"))
