"""library/pg_host_files.py: which files it writes and removes, and the directory it
leaves (real files under tmp_path)."""

import os

import pytest
from conftest import load_module


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_host_files")


WANTED = {"__init__.py": '"""pkg"""\n', "lsn.py": "X = 1\n", "session.py": "Y = 'ü'\n"}


def _apply(mod, dest, write, remove):
    mod.apply(str(dest), WANTED, write, remove, 0o644, os.geteuid(), os.getegid())


def test_a_missing_directory_gets_every_file(mod, tmp_path):
    dest = tmp_path / "site/pgfleet"
    present = mod.read_dir(str(dest))
    assert present == {}
    write, remove = mod.plan(present, WANTED, "*.py")
    assert (write, remove) == (["__init__.py", "lsn.py", "session.py"], [])
    _apply(mod, dest, write, remove)
    assert {p.name: p.read_text() for p in dest.iterdir()} == WANTED
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in dest.iterdir())


def test_only_what_differs_is_written_and_what_is_gone_removed(mod, tmp_path):
    dest = tmp_path / "pgfleet"
    write, remove = mod.plan({}, WANTED, "*.py")
    _apply(mod, dest, write, remove)
    (dest / "lsn.py").write_text("X = 1\n# changed on the host\n")
    (dest / "old_piece.py").write_text("gone = True\n")
    (dest / "__pycache__").mkdir()
    (dest / "notes.txt").write_text("kept: not *.py\n")
    write, remove = mod.plan(mod.read_dir(str(dest)), WANTED, "*.py")
    assert (write, remove) == (["lsn.py"], ["old_piece.py"])
    _apply(mod, dest, write, remove)
    assert (dest / "lsn.py").read_text() == "X = 1\n"
    assert sorted(p.name for p in dest.iterdir()) == [
        "__init__.py",
        "__pycache__",
        "lsn.py",
        "notes.txt",
        "session.py",
    ]
    # Then nothing is left to do.
    assert mod.plan(mod.read_dir(str(dest)), WANTED, "*.py") == ([], [])


def test_without_prune_nothing_is_removed(mod):
    assert mod.plan({"old.py": b"x"}, {}, "") == ([], [])


@pytest.mark.parametrize("name", ["../evil.py", "a/b.py", "", ".", ".."])
def test_a_name_with_a_directory_part_is_refused(mod, name):
    assert mod.bad_names([name, "fine.py"]) == [name]
