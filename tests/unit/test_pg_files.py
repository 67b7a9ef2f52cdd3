"""stale_files: only files whose content, owner, group or mode differ are rewritten."""

import hashlib

import pytest
from ansible.errors import AnsibleFilterError

from pg_files import (
    FilterModule,
    file_state,
    missing_packages,
    sha1_manifest,
    stale_files,
    stale_tree,
)

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


def test_only_the_filters_are_exported():
    # file_state is the probe's notation, used by stale_files; no playbook needs it.
    assert sorted(FilterModule().filters()) == [
        "missing_packages",
        "sha1_manifest",
        "stale_files",
        "stale_tree",
    ]


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


A, B = "A = 1\n", "B = 2\n"
TREE = {"b.py": B, "a.py": A}


def test_sha1_manifest_is_sha1sum_format_sorted_by_name():
    assert sha1_manifest(TREE) == f"{sha1(A)}  a.py\n{sha1(B)}  b.py\n"


def test_sha1_manifest_changes_when_a_file_is_removed_added_or_edited():
    base = sha1_manifest(TREE)
    assert sha1_manifest({"a.py": TREE["a.py"]}) != base
    assert sha1_manifest({**TREE, "c.py": ""}) != base
    assert sha1_manifest({**TREE, "a.py": "A = 3\n"}) != base


def test_stale_tree_none_when_every_file_matches():
    probed = {f"/d/{n}": f"{sha1(t)} root:root:644" for n, t in TREE.items()}
    assert stale_tree(TREE, "/d/", probed) == []


@pytest.mark.parametrize(
    ("change", "stale"),
    [
        ({"/d/a.py": "-"}, ["a.py"]),
        ({"/d/b.py": f"{sha1('old')} root:root:644"}, ["b.py"]),
        ({"/d/a.py": f"{sha1(A)} root:root:664"}, ["a.py"]),
        ({"/d/a.py": f"{sha1(A)} root:staff:644"}, ["a.py"]),
    ],
)
def test_stale_tree_names_each_differing_file(change, stale):
    probed = {f"/d/{n}": f"{sha1(t)} root:root:644" for n, t in TREE.items()} | change
    assert stale_tree(TREE, "/d", probed) == stale


def test_stale_tree_unprobed_files_are_stale():
    assert stale_tree(TREE, "/d", {}) == ["a.py", "b.py"]


def test_stale_tree_owner_group_mode():
    probed = {f"/d/{n}": f"{sha1(t)} postgres:adm:600" for n, t in TREE.items()}
    assert stale_tree(TREE, "/d", probed, owner="postgres", group="adm", mode="0600") == []


@pytest.mark.parametrize(("contents", "probed"), [(["a.py"], {}), (TREE, ["/d/a.py"])])
def test_stale_tree_bad_arguments(contents, probed):
    with pytest.raises(AnsibleFilterError, match="stale_tree"):
        stale_tree(contents, "/d", probed)


def test_missing_packages_are_the_uninstalled_and_the_unprobed_in_order():
    probed = {"patroni": True, "haproxy": False}
    assert missing_packages(["patroni", "haproxy", "etcd-client"], probed) == [
        "haproxy",
        "etcd-client",
    ]
    assert missing_packages(["patroni"], probed) == []
    assert missing_packages(["patroni"], {}) == ["patroni"]


def test_missing_packages_bad_probe():
    with pytest.raises(AnsibleFilterError, match="missing_packages"):
        missing_packages(["patroni"], ["patroni"])
