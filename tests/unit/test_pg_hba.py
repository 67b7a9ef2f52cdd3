"""pg_hba_lines: only hostssl + scram/cert rules can be expressed; bad rules name the field."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_hba import pg_hba_host_addresses, pg_hba_lines

VALID = [
    ([], []),
    (
        [{"databases": ["learning"], "users": ["app"], "address": "10.0.1.0/24"}],
        ["hostssl learning app 10.0.1.0/24 scram-sha-256"],
    ),
    (
        [{"databases": "all", "users": "+readers", "address": "10.0.1.5/24", "comment": "BI"}],
        ["# BI", "hostssl all +readers 10.0.1.0/24 scram-sha-256"],
    ),
    (
        [{"databases": ["replication"], "users": ["replicator"], "address": "2001:db8::/64"}],
        ["hostssl replication replicator 2001:db8::/64 scram-sha-256"],
    ),
    (
        [{"databases": ["a", "b"], "users": ["u1", "u2"], "address": "samenet", "method": "cert"}],
        ["hostssl a,b u1,u2 samenet cert"],
    ),
]


@pytest.mark.parametrize(("entries", "expected"), VALID)
def test_valid(entries, expected):
    assert pg_hba_lines(entries) == expected


INVALID = [
    ("x", "expected a list"),
    (["x"], r"\[0\]: expected a mapping"),
    ([{"databases": "d", "users": "u", "address": "10.0.0.0/8", "type": "host"}], "unknown key"),
    ([{"users": "u", "address": "10.0.0.0/8"}], r"\[0\]\.databases"),
    ([{"databases": "d", "users": [], "address": "10.0.0.0/8"}], r"\[0\]\.users"),
    ([{"databases": "d", "users": "Bad Name", "address": "10.0.0.0/8"}], "not a valid name"),
    ([{"databases": "d", "users": ["app", "postgres"], "address": "10.0.0.0/8"}], "superuser"),
    ([{"databases": "d", "users": "u", "address": "10.0.0.1"}], "CIDR"),
    ([{"databases": "d", "users": "u", "address": "all"}], "CIDR"),
    ([{"databases": "d", "users": "u", "address": "10.0.0.300/32"}], "not a valid network"),
    ([{"databases": "d", "users": "u", "address": "10.0.0.0/8", "method": "trust"}], "trust"),
    ([{"databases": "d", "users": "u", "address": "10.0.0.0/8", "method": "md5"}], "md5"),
    ([{"databases": "d", "users": "u", "address": "10.0.0.0/8", "comment": "a\nb"}], "single line"),
]


@pytest.mark.parametrize(("entries", "message"), INVALID)
def test_invalid(entries, message):
    with pytest.raises(AnsibleFilterError, match=message) as err:
        pg_hba_lines(entries, name="postgresql_server_hba_entries")
    assert "postgresql_server_hba_entries" in str(err.value)


def test_host_addresses():
    assert pg_hba_host_addresses(["10.0.0.11", "10.0.0.11", "2001:db8::5", "db3.internal"]) == [
        "10.0.0.11/32",
        "2001:db8::5/128",
        "db3.internal",
    ]


@pytest.mark.parametrize("hosts", [["10.0.0.0/24"], ["bad host"], [""], [None], "10.0.0.1"])
def test_host_addresses_invalid(hosts):
    with pytest.raises(AnsibleFilterError, match="ansible_host"):
        pg_hba_host_addresses(hosts)


def test_a_rule_naming_a_role_names_its_alternate_login_too():
    entries = [{"databases": ["learning"], "users": ["app", "analytics"], "address": "10.0.1.0/24"}]
    assert pg_hba_lines(entries, alternates={"app": "app_alt"}) == [
        "hostssl learning app,app_alt,analytics 10.0.1.0/24 scram-sha-256"
    ]
    listed = [{"databases": ["learning"], "users": ["app", "app_alt"], "address": "10.0.1.0/24"}]
    assert pg_hba_lines(listed, alternates={"app": "app_alt"}) == [
        "hostssl learning app,app_alt 10.0.1.0/24 scram-sha-256"
    ]
