from roles.base.facts import TimezoneLinks


def test_timezone_links_parses_both_paths() -> None:
    out = ["localtime=/usr/share/zoneinfo/Etc/UTC", "zone=/usr/share/zoneinfo/Etc/UTC"]
    assert TimezoneLinks().process(out) == {
        "localtime": "/usr/share/zoneinfo/Etc/UTC",
        "zone": "/usr/share/zoneinfo/Etc/UTC",
    }


def test_timezone_links_missing_zone_is_none() -> None:
    assert TimezoneLinks().process(["localtime=/usr/share/zoneinfo/Etc/UTC", "zone="]) == {
        "localtime": "/usr/share/zoneinfo/Etc/UTC",
        "zone": None,
    }
