"""library/pg_loaded_files.py: a service reloads when the files it read changed since."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def module():
    from conftest import load_module

    return load_module("pg_loaded_files")


@pytest.fixture
def run(module):
    def call(files, stamp, check=False):
        changed, sums = module.run([str(f) for f in files], str(stamp), check)
        return {"changed": changed, "checksums": sums}

    return call


@pytest.fixture
def tls(tmp_path):
    cert, ca = tmp_path / "server.crt", tmp_path / "ca.crt"
    cert.write_text("CERT 1\n")
    ca.write_text("CA 1\n")
    return cert, ca, tmp_path / "loaded.sha1"


def test_first_run_is_a_change_then_nothing_until_a_file_changes(tls, run):
    cert, ca, stamp = tls
    first = run([cert, ca], stamp)
    assert first["changed"] is True and stamp.exists()
    assert oct(stamp.stat().st_mode & 0o777) == "0o644"
    assert "CERT" not in stamp.read_text()  # checksums only
    assert run([cert, ca], stamp)["changed"] is False
    ca.write_text("CA 1\nCA 2\n")  # a bundle: a second CA trusted
    assert run([cert, ca], stamp)["changed"] is True
    assert run([cert, ca], stamp)["changed"] is False


def test_a_missing_file_counts_and_its_return_is_a_change(tls, run):
    cert, ca, stamp = tls
    ca.unlink()
    assert run([cert, ca], stamp)["checksums"][1] == "-"
    ca.write_text("CA 1\n")
    assert run([cert, ca], stamp)["changed"] is True


def test_check_mode_reports_and_writes_nothing(tls, run):
    cert, ca, stamp = tls
    assert run([cert, ca], stamp, check=True)["changed"] is True
    assert not stamp.exists()
