"""pgfleet-metrics and pgfleet.textmetrics: the project's records as textfile metrics."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import load_script
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pgfleet import textmetrics

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "roles/monitoring_exporters/files/pgfleet-metrics"


@pytest.fixture(scope="module")
def tool():
    return load_script("pgfleet_metrics", TOOL)


def certificate(path: Path, not_after: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pg1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_after - dt.timedelta(days=30))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1796622000 ok\n", (1796622000.0, True)),
        ("1796622000 failed exit code 2\n", (1796622000.0, False)),
        (
            "1796622000 failed did not run: another job held the lock for 3600 s",
            (1796622000.0, False),
        ),
        ("", None),
        ("yesterday ok", None),
        ("1796622000 maybe", None),
    ],
)
def test_parse_attempt(text, parsed):
    assert textmetrics.parse_attempt(text) == parsed


@pytest.mark.parametrize(
    ("report", "parsed"),
    [
        ({"finished": "2026-12-07T05:00:00Z", "result": "passed"}, (1796619600.0, True)),
        ({"finished": "2026-12-07T05:00:00Z", "result": "failed"}, (1796619600.0, False)),
        ({"finished": "2026-12-07T05:00:00Z"}, (1796619600.0, False)),
        ({"result": "passed"}, None),
        ({"finished": "Monday", "result": "passed"}, None),
    ],
)
def test_parse_drill(report, parsed):
    assert textmetrics.parse_drill(json.dumps(report)) == parsed
    assert textmetrics.parse_drill("not json") is None


def test_the_tool_writes_every_record_and_never_a_success_it_could_not_read(tmp_path, tool):
    state = tmp_path / "state"
    state.mkdir()
    (state / "last-attempt-full").write_text("1796600000 ok\n")
    (state / "last-attempt-diff").write_text("1796610000 failed exit code 2\n")
    (state / "last-attempt-incr").write_text("garbage\n")
    drill = tmp_path / "last-drill.json"
    drill.write_text(json.dumps({"finished": "2026-12-07T05:00:00Z", "result": "failed"}))
    crt = tmp_path / "server.crt"
    certificate(crt, dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    out = tmp_path / "pgfleet.prom"
    argv = ["--out", str(out), "--state-dir", str(state), "--drill-report", str(drill)]
    argv += ["--certificate", str(crt), "--certificate", str(tmp_path / "missing.crt")]
    assert tool.main(argv) == 0
    text = out.read_text()
    got = samples(text)
    assert got['pgfleet_backup_last_attempt_success{type="full"}'] == 1
    assert got['pgfleet_backup_last_attempt_success{type="diff"}'] == 0
    assert got['pgfleet_backup_last_attempt_timestamp_seconds{type="diff"}'] == 1796610000
    assert 'pgfleet_backup_last_attempt_success{type="incr"}' not in got
    assert got[f'pgfleet_record_readable{{record="{state}/last-attempt-incr"}}'] == 0
    assert got["pgfleet_drill_last_success"] == 0
    assert got["pgfleet_drill_last_timestamp_seconds"] == 1796619600
    assert got[f'pgfleet_certificate_not_after_timestamp_seconds{{file="{crt}"}}'] == 1798761600
    assert got[f'pgfleet_record_readable{{record="{tmp_path}/missing.crt"}}'] == 0
    # one HELP and TYPE per family, before its samples
    assert text.count("# TYPE pgfleet_record_readable gauge") == 1
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob(".pgfleet-metrics.*"))


def test_no_records_yet_is_not_an_error(tmp_path, tool):
    out = tmp_path / "pgfleet.prom"
    argv = ["--out", str(out), "--state-dir", str(tmp_path / "none")]
    argv += ["--drill-report", str(tmp_path / "none.json")]
    assert tool.main(argv) == 0
    assert list(samples(out.read_text())) == ["pgfleet_metrics_timestamp_seconds"]


def test_an_unwritable_output_fails(tmp_path, tool, capsys):
    argv = ["--out", str(tmp_path / "no/such/dir/pgfleet.prom")]
    argv += ["--state-dir", str(tmp_path), "--drill-report", str(tmp_path / "x.json")]
    assert tool.main(argv) == 1
    assert "cannot write" in capsys.readouterr().err


def test_label_values_are_escaped():
    m = textmetrics.Metrics()
    m.add("x", "help", 1, file='a"b\\c\nd')
    assert 'x{file="a\\"b\\\\c\\nd"} 1' in m.text()
