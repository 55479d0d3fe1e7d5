"""Pure memory-leak suspicion: RSS that grew steadily over the sampling window."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from appliance.vitals.models import LeakSuspect
from appliance.vitals.settings import LeakSettings

# Allocators give memory back now and then; a leak still rises in most steps.
MIN_RISING_SHARE = 0.6


def is_steady_growth(rss: Sequence[int], settings: LeakSettings) -> bool:
    """True when RSS never falls, rises in most steps and grew by the configured margins."""
    if len(rss) < settings.min_samples:
        return False
    steps = [b - a for a, b in itertools.pairwise(rss)]
    if any(step < 0 for step in steps):
        return False
    rising = sum(1 for step in steps if step > 0)
    if rising < MIN_RISING_SHARE * len(steps):
        return False
    growth = rss[-1] - rss[0]
    if growth < settings.min_growth_bytes:
        return False
    return rss[0] > 0 and growth / rss[0] >= settings.min_growth_ratio


def find_leak_suspects(
    series: Mapping[tuple[int, float], Sequence[tuple[float, int]]],
    names: Mapping[tuple[int, float], str],
    settings: LeakSettings,
) -> list[LeakSuspect]:
    """``series`` maps (pid, create_time) to (ts, rss) samples, oldest first.

    Keying by create_time keeps a recycled pid from joining two processes' histories.
    """
    suspects = []
    for key, samples in series.items():
        rss = [value for _, value in samples]
        if not is_steady_growth(rss, settings):
            continue
        growth = rss[-1] - rss[0]
        suspects.append(
            LeakSuspect(
                pid=key[0],
                name=names.get(key, "?"),
                first_rss_bytes=rss[0],
                last_rss_bytes=rss[-1],
                growth_bytes=growth,
                growth_ratio=round(growth / rss[0], 4),
                samples=len(rss),
                window_s=round(samples[-1][0] - samples[0][0], 3),
            )
        )
    return sorted(suspects, key=lambda s: s.growth_bytes, reverse=True)
