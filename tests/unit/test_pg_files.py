"""stale_files: only files whose content, owner, group or mode differ are rewritten."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_files import FilterModule, file_state, stale_files

FILES = [
    {"dest": "/etc/a.conf", "owner": "postgres", "mode": "0640"},
    {"dest": "/usr/local/sbin/job", "owner": "root", "group": "root", "mode": "0755"},
]
SHAS = ["a" * 40, "b" * 40]


def test_file_state_notation():
    assert file_state("x", "root", "adm", "0640") == "x root:adm:640"
    assert file_state("x", "root", "root", 0o755) == "x root:root:755"


@pytest.mark.parametrize(
    ("probed", "stale"),
    [
        (
            {
                "/etc/a.conf": f"{'a' * 40} postgres:postgres:640",
                "/usr/local/sbin/job": f"{'b' * 40} root:root:755",
            },
            [],
        ),
        ({"/etc/a.conf": "-", "/usr/local/sbin/job": f"{'b' * 40} root:root:755"}, ["/etc/a.conf"]),
        (
            {
                "/etc/a.conf": f"{'c' * 40} postgres:postgres:640",
                "/usr/local/sbin/job": f"{'b' * 40} root:root:755",
            },
            ["/etc/a.conf"],
        ),
        (
            {
                "/etc/a.conf": f"{'a' * 40} postgres:postgres:644",
                "/usr/local/sbin/job": f"{'b' * 40} root:staff:755",
            },
            ["/etc/a.conf", "/usr/local/sbin/job"],
        ),
        ({}, ["/etc/a.conf", "/usr/local/sbin/job"]),
    ],
)
def test_stale(probed, stale):
    assert [f["dest"] for f in stale_files(FILES, probed, SHAS)] == stale


def test_mismatched_lengths():
    with pytest.raises(AnsibleFilterError, match="2 files but 1 checksums"):
        stale_files(FILES, {}, SHAS[:1])


def test_only_stale_files_is_exported():
    # file_state is the probe's notation, used by stale_files; no playbook needs it.
    assert list(FilterModule().filters()) == ["stale_files"]
