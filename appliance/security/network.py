"""Who is calling, by address: the client behind a trusted proxy, and the scrape networks."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: list[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def within(address: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    parsed = _address(address)
    return parsed is not None and any(parsed in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The peer, or when the peer is a trusted proxy, the last X-Forwarded-For hop that is
    not one (hops left of it could be anything the client wrote)."""
    if not proxies or forwarded_for is None or not within(peer, proxies):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        hop = hop.strip()
        if _address(hop) is None:
            return peer  # a garbled header: trust nothing in it
        if not within(hop, proxies):
            return hop
    return peer
