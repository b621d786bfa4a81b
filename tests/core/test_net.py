"""core.net: which Host and Origin values a server answers, and --allowed-hosts parsing."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.net import allowed_hosts, host_allowed, hosts_note, origin_host, parse_allowed_hosts


def test_allowed_hosts_are_loopback_names_the_bound_address_and_extras():
    assert allowed_hosts("127.0.0.1") == ["localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts("::1") == ["localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts("10.0.0.5", ("box.lan",)) == ["localhost", "127.0.0.1", "[::1]", "10.0.0.5", "box.lan"]
    assert allowed_hosts("0.0.0.0") == ["localhost", "127.0.0.1", "[::1]"]  # a wildcard bind names nothing


def test_parse_allowed_hosts():
    assert parse_allowed_hosts(" Box.LAN, *.example.org,,fe80::1 ,*") == ("box.lan", "*.example.org", "[fe80::1]", "*")
    assert parse_allowed_hosts(None) == ()


@pytest.mark.parametrize("bad", ["http://box.lan", "box.lan:8000", "box.lan/x", "a.*.org", "*box", "[::1]:80"])
def test_parse_allowed_hosts_refuses_what_is_not_a_host(bad):
    with pytest.raises(UserError, match="--allowed-hosts"):
        parse_allowed_hosts(bad)


def test_origin_host_and_matching():
    assert origin_host("http://[::1]:7860") == "[::1]" and origin_host("https://Box.lan") == "box.lan"
    assert origin_host("null") is None and origin_host("file://") is None
    hosts = allowed_hosts("127.0.0.1", ("*.example.org",))
    assert host_allowed("a.b.example.org", hosts) and not host_allowed("example.org", hosts)
    assert not host_allowed("localhost.evil", hosts) and host_allowed("LOCALHOST", hosts)


def test_hosts_note_warns_when_binding_every_address_without_names():
    assert hosts_note("127.0.0.1").startswith("answering Host localhost, 127.0.0.1, [::1]")
    assert hosts_note("0.0.0.0").startswith("warning:") and "--allowed-hosts" in hosts_note("0.0.0.0")
    assert hosts_note("::", ("box.lan",)).startswith("answering Host") and "box.lan" in hosts_note("::", ("box.lan",))
