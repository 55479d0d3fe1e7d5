from roles.base.facts import HostName, TimezoneLinks


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


def test_host_name_parses_name_and_hostnamectl() -> None:
    out = ["hostname=h1-1", "hostnamectl=/usr/bin/hostnamectl"]
    assert HostName().process(out) == {"hostname": "h1-1", "hostnamectl": True}
    assert HostName().process(["hostname=h1-1", "hostnamectl="]) == {
        "hostname": "h1-1",
        "hostnamectl": False,
    }
