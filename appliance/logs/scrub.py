"""The scrubber: masks secrets and personal data in text before it leaves the agent (its own
log records, every line the log endpoints return, error reports).

One pure function, ``scrub``, over a fixed list of rules; each match becomes
``[REDACTED:<kind>]``. Secrets are matched by shape (PEM and age keys, bearer credentials,
known token formats, a password in a URL) or by the name they follow (``password=…``,
``"token": "…"``); personal data by shape, with a checksum where the format has one (IBAN
mod 97, card numbers Luhn) so that ids and timestamps of the same length stay readable.
The corpus of what must and must not be masked is tests/unit/logs/test_scrub.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

#: Names whose value is a secret, in ``name=value``, ``name: value`` and JSON (``"name": "v"``).
CONCEALED_NAMES = (
    r"pass(?:word|wd|phrase)?|pwd|secret(?:[_-]?(?:id|key))?|client[_-]?secret|"
    r"(?:api|access|auth|private|secret|signing|encryption)[_-]?key|apikey|"
    r"(?:access|auth|refresh|id|bearer|session|scrape|admin)?[_-]?token|"
    r"role[_-]?id|accessor|credentials?|dsn|authorization|cookie|totp[_-]?(?:code|secret)"
)


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    #: Which group is the secret (the rest of the match is kept); 0: the whole match.
    group: int = 0
    #: A check on the matched value; a value that fails it is left as it is.
    valid: Callable[[str], bool] | None = None


def _iban_valid(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in moved)
    return int(digits) % 97 == 1


def _luhn_valid(text: str) -> bool:
    digits = [int(ch) for ch in text if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


RULES: tuple[Rule, ...] = (
    Rule(
        "private-key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
            re.S,
        ),
    ),
    Rule("age-key", re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{20,}")),
    # user:password@ in any URL (DSNs, webhook URLs with basic auth); the user stays.
    Rule("password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]*:([^@\s/]+)@", re.I), 1),
    Rule(
        "credential",
        re.compile(r"\b(?:Bearer|Basic|Token)\s+([A-Za-z0-9._~+/-]{8,}=*)", re.I),
        1,
    ),
    Rule("token", re.compile(r"\bsva_[A-Za-z0-9_-]{16,}")),  # the agent's own API tokens
    # Vault/OpenBao tokens (service, batch, recovery; old and new prefixes).
    Rule("vault-token", re.compile(r"\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}")),
    Rule("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    Rule("token", re.compile(r"\b(?:xox[abposr]|xapp)-[A-Za-z0-9-]{10,}")),  # Slack
    Rule("token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),  # GitHub
    Rule("access-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),  # AWS
    # Webhook URLs whose path is the credential (Slack, Teams/Power Automate signatures).
    Rule("webhook", re.compile(r"hooks\.slack\.com/services/([A-Za-z0-9/]+)"), 1),
    Rule("signature", re.compile(r"[?&]sig=([A-Za-z0-9%_-]{10,})"), 1),
    # name=value, name: value, "name": "value" (JSON), name='value'.
    Rule(
        "secret",
        re.compile(
            # A name may carry a prefix: PGPASSWORD, DB_PASSWORD, vault_token.
            rf"(?<![A-Za-z0-9])[\"']?[A-Za-z0-9_]*?(?:{CONCEALED_NAMES})[\"']?\s*[=:]\s*"
            # Not a value masked already, nor the scheme word before a masked credential.
            r"(?!\[REDACTED)(?!(?:Bearer|Basic|Token)\s)"
            r"(\"[^\"]*\"|'[^']*'|[^\s\"',;&}\])]+)",
            re.I,
        ),
        1,
    ),
    Rule(
        "email",
        re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    ),
    Rule(
        "iban",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        valid=_iban_valid,
    ),
    # Card numbers: 13-19 digits, optionally grouped, starting as issuers' do (2-6), Luhn.
    # Not the body of an IBAN-shaped text (country, check digits, then groups of four).
    Rule(
        "card",
        re.compile(r"(?<![\d.])(?<![A-Z]{2}\d{2} )[2-6]\d{3}(?:[ -]?\d){9,15}(?![\d.])"),
        valid=_luhn_valid,
    ),
    # Phone numbers: international (+CC …) or the North American (NXX) NXX-XXXX forms.
    Rule(
        "phone",
        re.compile(
            r"(?<![\w+.-])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w.-])"
            r"|(?<![\w.-])\(\d{3}\) ?\d{3}-\d{4}(?![\w.-])"
            r"|(?<![\w.-])\d{3}-\d{3}-\d{4}(?![\w.-])"
        ),
    ),
)


def _mask(rule: Rule, match: re.Match[str]) -> str:
    value = match.group(rule.group)
    if rule.valid is not None and not rule.valid(value):
        return match.group(0)
    masked = f"[REDACTED:{rule.kind}]"
    if rule.group == 0:
        return masked
    start, end = match.span(rule.group)
    whole = match.group(0)
    offset = match.start(0)
    return whole[: start - offset] + masked + whole[end - offset :]


def scrub(text: str) -> str:
    """The text with every secret and personal datum the rules know masked."""
    for rule in RULES:
        text = rule.pattern.sub(partial(_mask, rule), text)
    return text
