"""library/pg_disk_facts.py: free space as df prints it, sizes as du -sb prints them, small
state files and path existence (real files under tmp_path, compared with df and du)."""

import os
import subprocess

import pytest
from conftest import load_module


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_disk_facts")


def test_filesystem_matches_df(mod, tmp_path):
    fs = mod.filesystem(str(tmp_path))
    out = subprocess.run(
        ["df", "-B1", "--output=target,size", "--", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[-1]
    target, size = out.rsplit(None, 1)
    assert (fs["path"], fs["target"], fs["size"]) == (str(tmp_path), target.strip(), int(size))
    assert 0 <= fs["avail"] <= fs["size"]


def test_a_linked_pg_wal_with_a_slash_is_measured_where_it_points(mod, tmp_path):
    elsewhere = tmp_path / "wal"
    elsewhere.mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data/pg_wal").symlink_to(elsewhere)
    seen = []

    def statvfs(path):
        seen.append(path)
        return os.statvfs(path)

    fs = mod.filesystem(str(tmp_path / "data/pg_wal") + "/", statvfs=statvfs)
    assert seen == [str(tmp_path / "data/pg_wal") + "/"]
    assert fs["target"] == mod.mount_point(str(elsewhere))


def test_mount_point_of_root_and_of_a_file_below_it(mod):
    assert mod.mount_point("/") == "/"
    assert os.path.ismount(mod.mount_point(__file__))


def test_tree_size_counts_files_once_and_links_unfollowed(mod, tmp_path):
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "a/one").write_bytes(b"x" * 1000)
    (tmp_path / "a/b/two").write_bytes(b"y" * 12345)
    os.link(tmp_path / "a/b/two", tmp_path / "hardlink")  # counted once, as du does
    (tmp_path / "link").symlink_to("/usr")  # a link of 4 bytes, not followed
    (tmp_path / "empty").mkdir()
    # Directories count 0 bytes, as du -sb of coreutils 9.7 (Debian 13) counts them.
    assert mod.tree_size(str(tmp_path)) == 1000 + 12345 + 4
    assert mod.tree_size(str(tmp_path / "a/one")) == 1000
    assert mod.tree_size(str(tmp_path / "empty")) == 0


def test_a_missing_path_has_no_size_and_does_not_exist(mod, tmp_path):
    facts = mod.gather([], [str(tmp_path / "gone")], "", [str(tmp_path / "gone"), str(tmp_path)])
    assert facts["sizes"] == {str(tmp_path / "gone"): None}
    assert facts["exists"] == {str(tmp_path / "gone"): False, str(tmp_path): True}
    assert facts["filesystems"] == [] and facts["files"] == {}


def test_files_read_by_pattern_stripped_and_bounded(mod, tmp_path):
    (tmp_path / "last-success-diff").write_text("1799976000\n")
    (tmp_path / "last-attempt-full").write_text("1799000000 failed store down\n")
    (tmp_path / "last-big").write_text("z" * 10000)
    (tmp_path / "last-dir").mkdir()  # not a regular file
    (tmp_path / "other").write_text("not matched")
    files = mod.read_files(str(tmp_path / "last-*"))
    assert sorted(files) == ["last-attempt-full", "last-big", "last-success-diff"]
    assert files["last-success-diff"] == "1799976000"
    assert files["last-attempt-full"] == "1799000000 failed store down"
    assert len(files["last-big"]) == mod.FILE_LIMIT
    assert mod.read_files(str(tmp_path / "missing/last-*")) == {}
    assert mod.read_files("") == {}


def test_a_filesystem_that_cannot_be_measured_raises(mod, tmp_path):
    with pytest.raises(OSError):
        mod.gather([str(tmp_path / "gone")], [], "", [])


def test_room_for_a_directory_not_made_yet_is_measured_where_it_would_be_made(mod, tmp_path):
    facts = mod.gather([], [], "", [], room_for=[str(tmp_path / "forensics/20261206T000000Z")])
    (fs,) = facts["filesystems"]
    assert fs["path"] == str(tmp_path / "forensics/20261206T000000Z")
    # The filesystem of the nearest directory that exists: its mount point and size (its
    # free space moves with whatever else writes to it meanwhile).
    here = mod.filesystem(str(tmp_path))
    assert (fs["target"], fs["size"]) == (here["target"], here["size"])
    assert 0 < fs["avail"] <= fs["size"]
    assert mod.nearest_existing(str(tmp_path / "a/b/c")) == str(tmp_path)
    assert mod.nearest_existing(str(tmp_path)) == str(tmp_path)
