"""Stand-ins for the notification vendors (Slack, Microsoft Teams, PagerDuty, Twilio SMS).

They are NOT the vendors: small HTTPS receivers that accept the requests Apprise's plugins send
to the vendors' hosts (same host names, paths, authentication and bodies) and answer the way
those plugins expect, so the real Apprise code can be exercised end to end without the
Internet. They hold certificates for the vendors' host names issued by a test CA
(``tests/standins/tls.py``); a client reaches them only when it resolves those names to the
stand-in and trusts that CA (``tests/standins/resolver.py`` does the first inside one test).
"""
