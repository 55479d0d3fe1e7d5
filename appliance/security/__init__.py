"""Who may call the agent, how often, and the record of what they did.

Modules (one concern each): ``settings`` (the ``[security]`` table), ``roles`` (viewer,
operator, admin and the scrape-only role), ``tokens`` (API tokens: created, hashed, verified
through a short cache, revoked), ``ratelimit`` (token buckets, the failed-authentication
lock-out), ``network`` (the client behind a trusted proxy, scrape networks), ``stepup`` (TOTP
step-up codes and grants), ``audit`` (the hash-chained audit log), ``service`` (all of it
composed from settings for the runtime), ``__main__`` (the host-side admin CLI:
``python -m appliance.security token create|list|revoke``, ``audit verify|prune``).

This file imports none of them: ``appliance.config`` imports ``settings`` and the deploy reads
it without paying for the database code.
"""
