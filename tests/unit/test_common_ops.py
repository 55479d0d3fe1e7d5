"""The shared one-fact operations (roles/common) and the agent's wheelhouse, end to end on this
machine: each fact's own command runs in a shell, the operation's commands run too (an upload
is a copy), and a second run must be a no-op. Then drift on the "host": a changed mode, a file
replaced behind the deploy's back, a stray file."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import FileUploadCommand, StringCommand
from pyinfra.context import ctx_host

import roles.common.facts
from roles.agent import ops as agent_ops
from roles.agent.facts import WheelhouseState, parse_wheelhouse, wheelhouse_manifest
from roles.common import ops
from roles.common.facts import (
    ArtifactState,
    ManagedState,
    artifact_marker,
    parse_account,
    parse_artifact,
    parse_managed,
    parse_packages,
    parse_unit,
)

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


@dataclass
class LocalHost:
    """Stands in for pyinfra's host: facts run their real command here, as pyinfra would (the
    default when the command prints nothing or fails)."""

    name: str = "local"
    noops: list[str] = field(default_factory=list)
    facts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def get_fact(self, cls: type, **kwargs: Any) -> Any:
        fact = cls()
        command = fact.command(**kwargs)
        raw = command.get_raw_value() if isinstance(command, StringCommand) else command
        proc = subprocess.run(["sh", "-c", raw], capture_output=True, text=True, check=False)
        lines = proc.stdout.splitlines()
        value = fact.process(lines) if proc.returncode == 0 and lines else fact.default()
        self.facts.append((cls.__name__, value))
        return value

    def noop(self, description: str) -> None:
        self.noops.append(description)


def apply(op: Callable[..., Any], **kwargs: Any) -> tuple[list[Any], LocalHost]:
    """Run the operation's generator, then execute what it yielded (uploads are copies)."""
    host = LocalHost()
    with ctx_host.use(host):
        commands = list(op._inner(**kwargs))  # type: ignore[attr-defined]
    for command in commands:
        if isinstance(command, FileUploadCommand):
            src = command.src
            if hasattr(src, "read"):
                src.seek(0)
                data = src.read()
                Path(command.dest).write_bytes(data.encode() if isinstance(data, str) else data)
            else:
                shutil.copyfile(src, command.dest)
        else:
            subprocess.run(["sh", "-c", command.get_raw_value()], check=True)
    return commands, host


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_put_uploads_then_settles(tmp_path: Path) -> None:
    dest = tmp_path / "etc" / "app.conf"
    args = {"dest": str(dest), "user": USER, "group": GROUP, "mode": "640"}
    commands, _ = apply(ops.put, src=StringIO("a = 1\n"), **args)
    assert dest.read_text() == "a = 1\n"
    assert mode(dest) == 0o640
    assert not dest.with_name("app.conf.new").exists()
    assert any(isinstance(c, FileUploadCommand) and c.dest == f"{dest}.new" for c in commands)

    commands, host = apply(ops.put, src=StringIO("a = 1\n"), **args)
    assert commands == []
    assert host.noops == [f"file {dest} is up to date"]
    assert len(host.facts) == 1  # one fact, one command

    dest.chmod(0o666)
    commands, _ = apply(ops.put, src=StringIO("a = 1\n"), **args)
    assert [c.get_raw_value() for c in commands] == [f"chmod 640 {dest}"]
    assert mode(dest) == 0o640

    commands, _ = apply(ops.put, src=StringIO("a = 2\n"), **args)
    assert dest.read_text() == "a = 2\n"
    assert mode(dest) == 0o640


def test_put_never_leaves_the_new_content_readable_by_others(tmp_path: Path) -> None:
    """The upload goes to a file created 600 beforehand (an SFTP upload would make it 644)."""
    dest = tmp_path / "secret.env"
    with ctx_host.use(LocalHost()):
        commands = list(ops.put._inner(src=StringIO("TOKEN=x\n"), dest=str(dest), mode="600"))
    prepare = commands[0].get_raw_value()
    subprocess.run(["sh", "-c", prepare], check=True)
    assert mode(dest.with_name("secret.env.new")) == 0o600


def test_put_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="is a directory, not a file"):
        apply(ops.put, src=StringIO("x"), dest=str(tmp_path))


def test_template_renders_like_files_template(tmp_path: Path) -> None:
    src = tmp_path / "unit.j2"
    src.write_text("port={{ port }}\n")
    dest = tmp_path / "unit"
    apply(ops.template, src=str(src), dest=str(dest), user=USER, group=GROUP, port=8013)
    assert dest.read_text() == "port=8013\n"
    assert mode(dest) == 0o644
    commands, host = apply(
        ops.template, src=str(src), dest=str(dest), user=USER, group=GROUP, port=8013
    )
    assert (commands, host.noops) == ([], [f"file {dest} is up to date"])
    with pytest.raises(Exception, match="undefined"):
        apply(ops.template, src=str(src), dest=str(dest), user=USER, group=GROUP)


@pytest.fixture
def markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "installed"
    monkeypatch.setattr(roles.common.facts, "ARTIFACT_MARKERS", str(directory))
    monkeypatch.setattr(ops, "ARTIFACT_MARKERS", str(directory))
    return directory


def test_artifact_installs_once_and_is_not_hashed_again(tmp_path: Path, markers: Path) -> None:
    src = tmp_path / "bao"
    src.write_bytes(b"\x7fELF binary v1")
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "bin" / "bao"
    args = {"src": str(src), "dest": str(dest), "sha256": sha, "user": USER, "group": GROUP}

    apply(ops.artifact, **args)
    assert dest.read_bytes() == src.read_bytes()
    assert mode(dest) == 0o755
    size_mtime = f"{dest.stat().st_size}|{int(dest.stat().st_mtime)}"
    assert Path(artifact_marker(str(dest))).read_text() == f"{sha}|{size_mtime}\n"

    commands, host = apply(ops.artifact, **args)
    assert commands == []
    ((name, read),) = host.facts  # one command, and no hash of the file in it
    assert (name, read["artifacts"][str(dest)]["sha256"]) == ("ManagedState", None)
    assert read["artifacts"][str(dest)]["marker"]["sha256"] == sha


def test_artifact_replaced_on_the_host_is_put_back(tmp_path: Path, markers: Path) -> None:
    src = tmp_path / "tansu"
    src.write_bytes(b"tansu v1")
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "tansu.installed"
    args = {"src": str(src), "dest": str(dest), "sha256": sha, "user": USER, "group": GROUP}
    apply(ops.artifact, **args)

    dest.write_bytes(b"something else!")  # other size: the marker no longer matches
    commands, _ = apply(ops.artifact, **args)
    assert any(isinstance(c, FileUploadCommand) for c in commands)
    assert dest.read_bytes() == b"tansu v1"
    assert apply(ops.artifact, **args)[0] == []


def test_artifact_upload_is_checked_on_the_host(tmp_path: Path, markers: Path) -> None:
    src = tmp_path / "bao"
    src.write_bytes(b"tampered on the controller")
    dest = tmp_path / "bao.installed"
    with pytest.raises(subprocess.CalledProcessError):
        apply(ops.artifact, src=str(src), dest=str(dest), sha256="0" * 64, user=USER, group=GROUP)
    assert not dest.exists()  # never moved into place


def test_record_artifact_adopts_an_identical_file_without_an_upload(
    tmp_path: Path, markers: Path
) -> None:
    """A host deployed before markers existed: the file is the artifact, only the marker is
    written, so `artifact` has nothing to do (and nothing restarts)."""
    dest = tmp_path / "bao"
    dest.write_bytes(b"bao 2.7.2")
    dest.chmod(0o755)
    sha = hashlib.sha256(dest.read_bytes()).hexdigest()
    commands, _ = apply(ops.record_artifact, dest=str(dest), sha256=sha)
    assert [type(c) for c in commands] == [StringCommand]
    args = {"src": "/nonexistent", "dest": str(dest), "sha256": sha, "user": USER, "group": GROUP}
    assert apply(ops.artifact, **args)[0] == []
    assert apply(ops.record_artifact, dest=str(dest), sha256=sha)[0] == []


def test_artifact_state_hashes_only_without_a_matching_marker(
    tmp_path: Path, markers: Path
) -> None:
    dest = tmp_path / "bin"
    dest.write_bytes(b"x")
    host = LocalHost()
    state = host.get_fact(ArtifactState, path=str(dest))
    assert state["marker"] is None
    assert state["sha256"] == hashlib.sha256(b"x").hexdigest()
    assert host.get_fact(ArtifactState, path=str(tmp_path / "absent")) == ArtifactState.default()


def test_wheelhouse_uploads_what_differs_and_deletes_strays(tmp_path: Path) -> None:
    src = tmp_path / "wheelhouse-src"
    src.mkdir()
    wheels = {}
    for name in ("a-1.0-py3-none-any.whl", "b-2.0-py3-none-any.whl"):
        (src / name).write_bytes(name.encode() * 10)
        wheels[name] = hashlib.sha256((src / name).read_bytes()).hexdigest()
    dest = tmp_path / "wheelhouse"
    args = {"src": str(src), "dest": str(dest), "wheels": wheels}

    commands, _ = apply(agent_ops.wheelhouse, **args)
    assert sorted(p.name for p in dest.iterdir()) == sorted(wheels)
    assert Path(wheelhouse_manifest(str(dest))).read_text().count("\n") == 2
    commands, host = apply(agent_ops.wheelhouse, **args)
    assert (commands, host.noops) == ([], [f"{dest} holds the 2 wheels of the manifest"])

    (dest / "a-1.0-py3-none-any.whl").write_bytes(b"replaced by hand")
    (dest / "stray.whl").write_bytes(b"?")
    commands, _ = apply(agent_ops.wheelhouse, **args)
    uploads = [c.dest for c in commands if isinstance(c, FileUploadCommand)]
    assert uploads == [f"{dest}/a-1.0-py3-none-any.whl"]
    assert sorted(p.name for p in dest.iterdir()) == sorted(wheels)
    assert apply(agent_ops.wheelhouse, **args)[0] == []


def test_wheelhouse_refuses_a_wheel_that_is_not_the_manifests(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a-1.0-py3-none-any.whl").write_bytes(b"tampered")
    dest = tmp_path / "wheelhouse"
    with pytest.raises(subprocess.CalledProcessError):
        apply(agent_ops.wheelhouse, src=str(src), dest=str(dest),
              wheels={"a-1.0-py3-none-any.whl": "0" * 64})  # fmt: skip
    assert not Path(wheelhouse_manifest(str(dest))).exists()


def test_managed_state_reads_files_of_every_kind_in_one_command(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("a\n")
    (tmp_path / "empty").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "a.conf")
    os.mkfifo(tmp_path / "fifo")  # would block a checksum
    paths = [str(tmp_path / n) for n in ("a.conf", "empty", "link", "fifo", "nope/x", "")]
    host = LocalHost()
    state = host.get_fact(
        ManagedState, files=paths, units=[], packages=[], accounts=[], artifacts=[]
    )
    files = state["files"]
    assert files[paths[0]]["file"] == {
        "type": "regular file", "user": USER, "group": GROUP, "mode": "644",
        "sha256": hashlib.sha256(b"a\n").hexdigest(),
    }  # fmt: skip
    assert files[paths[1]]["file"]["sha256"] == hashlib.sha256(b"").hexdigest()
    assert (files[paths[2]]["file"]["type"], files[paths[2]]["file"]["sha256"]) == (
        "symbolic link", None,
    )  # fmt: skip
    assert (files[paths[3]]["file"]["type"], files[paths[3]]["file"]["sha256"]) == ("fifo", None)
    assert paths[4] not in files  # absent, and so is its directory
    assert files[paths[5]] == {"file": files[paths[5]]["file"], "parent": True}  # tmp_path/
    assert files[paths[5]]["file"]["type"] == "directory"
    assert len(host.facts) == 1


def test_wheelhouse_state_of_a_missing_directory(tmp_path: Path) -> None:
    state = LocalHost().get_fact(WheelhouseState, path=str(tmp_path / "none"))
    assert state == WheelhouseState.default()


# Pure parsers, on output captured from a lab host.


def test_parse_packages() -> None:
    lines = [
        "pkg|ii |curl",
        "pkg|hi |jq",
        "pkg|un |nginx",
        "pkg|rc |apache2",
        "index|1795881000|1795884600",
    ]
    assert parse_packages(lines) == {"installed": ["curl", "jq"], "index_age_s": 3600}
    assert parse_packages(["index||1795884600"]) == {"installed": [], "index_age_s": None}


def test_parse_unit() -> None:
    assert parse_unit(["SubState=running", "UnitFileState=enabled"]) == {
        "running": True,
        "enabled": True,
    }
    assert parse_unit(["SubState=auto-restart", "UnitFileState=disabled"]) == {
        "running": False,
        "enabled": False,
    }
    assert parse_unit(["SubState=exited", "UnitFileState=static"]) == {
        "running": True,
        "enabled": True,
    }


def test_parse_managed() -> None:
    """Output captured from a lab host: a file, a directory, a file whose directory exists
    only, two units (the second unknown), packages and the index's age, an account and an
    installed artifact."""
    sha = "337897b1b538854f337c0533cedfe1acee690ded9b15c45bd9a98b1eb975efe4"
    lines = [
        "file|/etc/hostname|regular file|root|root|644",
        "file|/etc|directory|root|root|755",
        "parent|/etc/hostname",
        "parent|/etc",
        "parent|/etc/systemd/system/nope.conf",
        f"sha256|{sha}  /etc/hostname",
        "unit|ssh.service|SubState=running",
        "unit|ssh.service|UnitFileState=enabled",
        "unit|nope.service|SubState=dead",
        "unit|nope.service|UnitFileState=",
        "pkg|ii |curl",
        "pkg|un |nginx",
        "index|1795889760|1795890748",
        "account|vault:vault|group|",
        "account|vault:vault|passwd|vault:x:997:996::/tank/vault:/usr/sbin/nologin",
        "account|vault:vault|primary|vault",
        "artifact|/usr/local/bin/bao|stat|181848661|1795889892|755|root|root",
        f"artifact|/usr/local/bin/bao|marker|{'9c' * 32}|181848661|1795889892",
    ]
    assert parse_managed(lines) == {
        "files": {
            "/etc/hostname": {
                "file": {"type": "regular file", "user": "root", "group": "root",
                         "mode": "644", "sha256": sha},
                "parent": True,
            },
            "/etc": {
                "file": {"type": "directory", "user": "root", "group": "root", "mode": "755",
                         "sha256": None},
                "parent": True,
            },
            "/etc/systemd/system/nope.conf": {"file": None, "parent": True},
        },
        "units": {
            "ssh.service": {"running": True, "enabled": True},
            "nope.service": {"running": False, "enabled": False},
        },
        "accounts": {
            "vault:vault": {
                "group": True,
                "user": {"group": "vault", "home": "/tank/vault", "shell": "/usr/sbin/nologin"},
            }
        },
        "artifacts": {
            "/usr/local/bin/bao": {
                "file": {"size": 181848661, "mtime": 1795889892, "mode": "755", "user": "root",
                         "group": "root"},
                "marker": {"sha256": "9c" * 32, "size": 181848661, "mtime": 1795889892},
                "sha256": None,
            }
        },
        "installed": ["curl"],
        "index_age_s": 988,
    }  # fmt: skip
    assert parse_managed([]) == ManagedState.default()


def test_parse_artifact() -> None:
    sha = "9c5f36287c673f386e1533e9c044169a248e4ee50dd54810fa766e95bd41b788"
    lines = [
        "stat|181848661|1795881191|755|root|root",
        f"marker|{sha}|181848661|1795881191",
    ]
    assert parse_artifact(lines) == {
        "file": {
            "size": 181848661,
            "mtime": 1795881191,
            "mode": "755",
            "user": "root",
            "group": "root",
        },
        "marker": {"sha256": sha, "size": 181848661, "mtime": 1795881191},
        "sha256": None,
    }
    no_marker = parse_artifact(["stat|5|1|755|root|root", "marker|", f"sha256|{sha}  -"])
    assert (no_marker["marker"], no_marker["sha256"]) == (None, sha)


def test_parse_account() -> None:
    lines = [
        "group|",
        "passwd|vault:x:998:998::/tank/vault:/usr/sbin/nologin",
        "primary|vault",
    ]
    assert parse_account(lines) == {
        "group": True,
        "user": {"group": "vault", "home": "/tank/vault", "shell": "/usr/sbin/nologin"},
    }
    assert parse_account([]) == {"group": False, "user": None}


def test_parse_wheelhouse() -> None:
    lines = [
        "entry|a-1.0-py3-none-any.whl|f|10|100",
        "entry|junk|d|4096|100",
        f"recorded|a-1.0-py3-none-any.whl|{'a' * 64}|10|100",
    ]
    assert parse_wheelhouse(lines) == {
        "present": {
            "a-1.0-py3-none-any.whl": {"type": "f", "size": 10, "mtime": 100},
            "junk": {"type": "d", "size": 4096, "mtime": 100},
        },
        "recorded": {"a-1.0-py3-none-any.whl": {"sha256": "a" * 64, "size": 10, "mtime": 100}},
    }
