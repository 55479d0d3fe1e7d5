"""appliance.mailrelay, the host side of the mail role's relay login: postfix's SASL password
map written from the agent's secret (read through a real SecretManager over the env backend),
root-only, rewritten and re-mapped only when it changed, and never a password in its output.
``postmap``/``postfix reload`` are recorded instead of run (no postfix here; the lab runs them).
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from appliance.mailrelay import main, refresh, sasl_map
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend, variable_name
from appliance.secrets.errors import SecretNotFound

PASSWORD = "s3cret pass-Word!"  # a blank inside is fine: postfix keeps the rest of the line
RELAY = "[smtp.example.com]:587"


class Postfix:
    """Records the commands; ``postmap`` makes the .db as the real one does."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> None:
        self.commands.append(list(argv))
        if argv[0] == "postmap":
            Path(argv[1].removeprefix("hash:") + ".db").write_bytes(b"db")


def reader(environ: dict[str, str]) -> Callable[[str], Mapping[str, str] | None]:
    manager = SecretManager(EnvBackend(environ=lambda: environ), 0.0)

    def read(name: str) -> Mapping[str, str] | None:
        try:
            return {k: v.get_secret_value() for k, v in manager.get_all(name).items()}
        except SecretNotFound:
            return None

    return read


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_map_line_is_relayhost_then_user_colon_password() -> None:
    assert sasl_map(RELAY, "u@example.com", PASSWORD) == f"{RELAY} u@example.com:{PASSWORD}\n"


@pytest.mark.parametrize("bad", ["", "a\nb", "a\rb", " lead", "trail "])
def test_a_password_postfix_would_misread_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(ValueError) as err:
        sasl_map(RELAY, "u", bad)
    assert (bad.strip() or "\0") not in str(err.value)


def test_the_map_is_written_root_only_mapped_and_postfix_reloaded_once(tmp_path: Path) -> None:
    path, postfix = tmp_path / "sasl_passwd", Postfix()
    said = refresh({"password": PASSWORD}, RELAY, "u", path, postfix)
    assert "written" in said and PASSWORD not in said
    assert path.read_text() == f"{RELAY} u:{PASSWORD}\n"
    assert mode(path) == 0o600 and mode(path.with_name("sasl_passwd.db")) == 0o600
    assert postfix.commands == [["postmap", f"hash:{path}"], ["postfix", "reload"]]

    assert refresh({"password": PASSWORD}, RELAY, "u", path, postfix).endswith("unchanged")
    assert len(postfix.commands) == 2  # nothing to map again

    refresh({"password": "rotated"}, RELAY, "u", path, postfix)
    assert path.read_text() == f"{RELAY} u:rotated\n" and len(postfix.commands) == 4


def test_a_map_left_readable_is_made_root_only_again(tmp_path: Path) -> None:
    path, postfix = tmp_path / "sasl_passwd", Postfix()
    path.write_text(f"{RELAY} u:{PASSWORD}\n")
    path.chmod(0o644)
    refresh({"password": PASSWORD}, RELAY, "u", path, postfix)
    assert mode(path) == 0o600 and postfix.commands


def test_a_secret_not_put_yet_leaves_postfix_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, postfix = tmp_path / "sasl_passwd", Postfix()
    code = main(
        ["--relayhost", RELAY, "--user", "u", "--secret", "agent/mail/relay"],
        read=reader({}),
        path=path,
        run=postfix,
    )
    assert code == 0 and "deferred" in capsys.readouterr().out
    assert not path.exists() and postfix.commands == []


def test_main_reads_the_agents_secret_and_prints_no_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, postfix = tmp_path / "sasl_passwd", Postfix()
    environ = {variable_name("agent/mail/relay", "password"): PASSWORD}
    argv = ["--relayhost", RELAY, "--user", "u", "--secret", "agent/mail/relay"]
    assert main(argv, read=reader(environ), path=path, run=postfix) == 0
    assert path.read_text().endswith(f"u:{PASSWORD}\n")
    environ[variable_name("agent/mail/relay", "password")] = "bad\nline"
    assert main(argv, read=reader(environ), path=path, run=postfix) == 1
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err and "bad" not in out.out + out.err
    assert "line break" in out.err
    assert path.read_text().endswith(f"u:{PASSWORD}\n")  # the good one stays
