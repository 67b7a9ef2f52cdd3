"""molecule/shared/files/secret-sampler.py, the security fault's watcher: it must see a
secret in a real process's command line and in its environment, report the secret's label
and never its value, and not report itself."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import load_script

TOOL = Path(__file__).resolve().parents[2] / "molecule/shared/files/secret-sampler.py"
SECRET = "s3cr3t-value-for-the-sampler-test"
OTHER = "another-secret-nobody-uses-here"


@pytest.fixture(scope="module")
def sampler():
    return load_script("secret_sampler", TOOL)


@pytest.fixture
def secrets_file(tmp_path):
    path = tmp_path / "secrets"
    path.write_text(f"role:app\t{SECRET}\nshort\ttoo-short\nunused\t{OTHER}\n")
    path.chmod(0o600)
    return path


def _child(argv_secret: bool, env_secret: bool) -> subprocess.Popen:
    env = dict(os.environ, **({"SOME_VAR": SECRET} if env_secret else {}))
    argv = [sys.executable, "-c", "import time; time.sleep(30)"]
    if argv_secret:
        argv.append(f"password={SECRET}")
    return subprocess.Popen(argv, env=env)


@pytest.mark.parametrize(
    ("argv_secret", "env_secret", "where"),
    [(True, False, {"cmdline"}), (False, True, {"environ"}), (True, True, {"cmdline", "environ"})],
)
def test_a_secret_in_a_process_is_seen_by_label(
    sampler, secrets_file, argv_secret, env_secret, where
):
    secrets = sampler.load_secrets(secrets_file)
    child = _child(argv_secret, env_secret)
    try:
        time.sleep(0.2)
        _, hits = sampler.scan(secrets, os.getpid())
    finally:
        child.kill()
        child.wait()
    mine = [h for h in hits if h["pid"] == child.pid]
    assert {h["where"] for h in mine} == where
    assert {h["label"] for h in mine} == {"role:app"}
    assert SECRET not in json.dumps(hits)


def test_a_clean_process_and_the_sampler_itself_are_not_reported(sampler, secrets_file):
    secrets = sampler.load_secrets(secrets_file)
    child = _child(False, False)
    try:
        time.sleep(0.2)
        count, hits = sampler.scan(secrets, os.getpid())
    finally:
        child.kill()
        child.wait()
    assert count > 1
    assert not [h for h in hits if h["pid"] in (child.pid, os.getpid())]


def test_short_values_are_not_looked_for(sampler, secrets_file):
    labels = [label for label, _ in sampler.load_secrets(secrets_file)]
    assert labels == ["role:app", "unused"]


def test_a_run_records_hits_and_its_rate(sampler, secrets_file, tmp_path):
    child = _child(True, False)
    try:
        time.sleep(0.2)
        proc = subprocess.run(
            [sys.executable, str(TOOL), "--secrets", str(secrets_file),
             "--out", str(tmp_path / "hits"), "--stats", str(tmp_path / "stats"),
             "--hz", "20", "--duration", "1.5"],
            check=True, timeout=30,
        )  # fmt: skip
    finally:
        child.kill()
        child.wait()
    assert proc.returncode == 0
    report = sampler.summarize(tmp_path / "hits", tmp_path / "stats")
    assert [h["label"] for h in report["hits"] if h["pid"] == child.pid] == ["role:app"]
    assert report["samples"] >= 10 and report["rate_hz"] >= 10
    assert SECRET not in (tmp_path / "hits").read_text()
