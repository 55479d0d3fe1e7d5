from __future__ import annotations

import pytest

from appliance.vitals.leaks import find_leak_suspects, is_steady_growth
from appliance.vitals.settings import LeakSettings

MB = 1024 * 1024
S = LeakSettings(min_samples=5, min_growth_bytes=10 * MB, min_growth_ratio=0.1, window_samples=10)


@pytest.mark.parametrize(
    ("rss_mb", "suspect"),
    [
        ([100, 105, 110, 115, 120], True),  # steady growth
        ([100, 105, 105, 110, 115], True),  # a flat step is fine
        ([100, 105, 110, 108, 120], False),  # fell once: allocator returned memory
        ([100, 101, 102, 103, 104], False),  # below min_growth_bytes
        ([100, 105, 110, 115], False),  # too few samples
        ([100, 100, 100, 100, 130], False),  # one jump is not steady growth
        ([1000, 1003, 1006, 1009, 1012], False),  # 12 MB but only 1.2 %: below min ratio
    ],
)
def test_steady_growth(rss_mb: list[int], suspect: bool) -> None:
    assert is_steady_growth([v * MB for v in rss_mb], S) is suspect


def test_suspects_sorted_by_growth_with_window() -> None:
    series = {
        (10, 1.0): [(float(t), (100 + 5 * t) * MB) for t in range(6)],
        (20, 1.0): [(float(t), (100 + 20 * t) * MB) for t in range(6)],
        (30, 1.0): [(float(t), 100 * MB) for t in range(6)],
    }
    names = {(10, 1.0): "slow", (20, 1.0): "fast", (30, 1.0): "flat"}
    suspects = find_leak_suspects(series, names, S)
    assert [(s.pid, s.name) for s in suspects] == [(20, "fast"), (10, "slow")]
    assert suspects[0].growth_bytes == 100 * MB
    assert suspects[0].window_s == 5.0
    assert suspects[0].growth_ratio == 1.0
