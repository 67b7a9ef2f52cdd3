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


ETCD_TEXT = """\
# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is not.
# TYPE etcd_server_has_leader gauge
etcd_server_has_leader 1
# HELP etcd_server_leader_changes_seen_total The number of leader changes seen.
# TYPE etcd_server_leader_changes_seen_total counter
etcd_server_leader_changes_seen_total 3
# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync.
# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 10
etcd_mvcc_db_total_size_in_bytes{note="a } in a label"} 2.4576e+04 1796622000000
etcd_server_proposals_pending NaN
etcd_server_is_leader not-a-number
"""


def test_relay_keeps_only_the_wanted_families_with_their_help_and_type():
    lines = textmetrics.relay(ETCD_TEXT, textmetrics.ETCD_FAMILIES)
    assert lines == [
        "# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is not.",
        "# TYPE etcd_server_has_leader gauge",
        "etcd_server_has_leader 1",
        "# HELP etcd_server_leader_changes_seen_total The number of leader changes seen.",
        "# TYPE etcd_server_leader_changes_seen_total counter",
        "etcd_server_leader_changes_seen_total 3",
        # the timestamp dropped (the textfile collector refuses one), the label kept whole
        'etcd_mvcc_db_total_size_in_bytes{note="a } in a label"} 2.4576e+04',
        "etcd_server_proposals_pending NaN",
    ]


@pytest.mark.parametrize("text", ["", "<html>502 Bad Gateway</html>", "# HELP x y\nx 1\n"])
def test_relay_of_nothing_it_wants_is_none(text):
    assert textmetrics.relay(text, textmetrics.ETCD_FAMILIES) is None


def _issue(name, key, issuer, issuer_key, usage, sans=()):
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    )
    if usage is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def etcd_like(tmp_path):
    """An HTTPS server that, like etcd's client port, requires a client certificate from
    its CA and serves ETCD_TEXT at /metrics. Yields (url, member tls dir, stranger dir)."""
    import http.server
    import ipaddress
    import ssl
    import threading

    from cryptography.x509.oid import ExtendedKeyUsageOID

    def ca(name):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return key, subject, _issue(name, key, subject, key, None)

    ca_key, ca_name, ca_cert = ca("etcd CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _issue(
        "pg1", server_key, ca_name, ca_key, ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )  # fmt: skip
    dirs = {}
    for who, (issuer_key, issuer_name, _) in {
        "member": (ca_key, ca_name, ca_cert),
        "stranger": ca("another CA"),
    }.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(who, key, issuer_name, issuer_key, ExtendedKeyUsageOID.CLIENT_AUTH)
        d = tmp_path / who
        d.mkdir()
        (d / "ca.crt").write_bytes(_pem(ca_cert))
        (d / "member.crt").write_bytes(_pem(cert))
        (d / "member.key").write_bytes(_pem(key))
        dirs[who] = d
    (tmp_path / "server.pem").write_bytes(_pem(server) + _pem(server_key))
    (tmp_path / "ca.pem").write_bytes(_pem(ca_cert))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = ETCD_TEXT.encode() if self.path == "/metrics" else b"no"
            self.send_response(200 if self.path == "/metrics" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem")
    context.load_verify_locations(tmp_path / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}", dirs
    finally:
        httpd.shutdown()


def test_the_tool_relays_etcd_through_its_client_certificate(tmp_path, tool, etcd_like):
    url, dirs = etcd_like
    out = tmp_path / "pgfleet.prom"
    argv = ["--out", str(out), "--state-dir", str(tmp_path), "--drill-report", str(out)]
    assert tool.main([*argv, "--etcd", url, "--etcd-tls-dir", str(dirs["member"])]) == 0
    got = samples(out.read_text())
    assert got["pgfleet_etcd_metrics_readable"] == 1
    assert got["etcd_server_has_leader"] == 1
    assert got["etcd_server_leader_changes_seen_total"] == 3
    assert "# TYPE etcd_server_leader_changes_seen_total counter" in out.read_text()
    assert not any(k.startswith("etcd_disk") for k in got)


def test_an_etcd_that_refuses_the_certificate_is_unreadable_not_silent(
    tmp_path, tool, etcd_like, capsys
):
    url, dirs = etcd_like
    out = tmp_path / "pgfleet.prom"
    argv = ["--out", str(out), "--state-dir", str(tmp_path), "--drill-report", str(out)]
    # a client certificate of another CA (and trusting that CA): the handshake fails
    assert tool.main([*argv, "--etcd", url, "--etcd-tls-dir", str(dirs["stranger"])]) == 0
    got = samples(out.read_text())
    assert got["pgfleet_etcd_metrics_readable"] == 0
    assert not any(k.startswith("etcd_") for k in got)
    assert "etcd's metrics at" in capsys.readouterr().err
    # nothing listening: the same
    dead = "127.0.0.1:1"
    assert tool.main([*argv, "--etcd", dead, "--etcd-tls-dir", str(dirs["member"])]) == 0
    assert samples(out.read_text())["pgfleet_etcd_metrics_readable"] == 0


def test_without_etcd_there_is_no_etcd_metric(tmp_path, tool):
    out = tmp_path / "pgfleet.prom"
    assert tool.main(["--out", str(out), "--state-dir", str(tmp_path)]) == 0
    assert "pgfleet_etcd" not in out.read_text()


@pytest.mark.parametrize(
    ("report", "parsed"),
    [
        ({"result": "passed", "primary": True, "at": 5.0, "open": 1, "closed": 2},
         {"ok": True, "primary": True, "at": 5.0, "open": 1, "closed": 2}),
        ({"result": "passed", "primary": False, "at": 5.0},
         {"ok": True, "primary": False, "at": 5.0}),
        ({"result": "failed", "problems": ["store unreachable"]},
         {"ok": False, "primary": None, "at": None}),
        ({"result": "passed", "primary": True, "at": 5.0, "open": "1", "closed": 0}, None),
        ({"result": "passed", "primary": True, "open": 1, "closed": 0}, None),
        ({"result": "maybe"}, None),
        ([1, 2], None),
    ],
)  # fmt: skip
def test_parse_walcheck(report, parsed):
    assert textmetrics.parse_walcheck(json.dumps(report)) == parsed
    assert textmetrics.parse_walcheck("{not json") is None


def _walcheck_run(tmp_path, tool, report):
    check = tmp_path / "walcheck.json"
    check.write_text(report if isinstance(report, str) else json.dumps(report))
    out = tmp_path / "pgfleet.prom"
    argv = ["--out", str(out), "--state-dir", str(tmp_path), "--drill-report", str(out)]
    assert tool.main([*argv, "--walcheck", str(check)]) == 0
    return samples(out.read_text()), check


def test_the_tool_reports_open_and_closed_holes_on_the_primary(tmp_path, tool):
    report = {"result": "passed", "primary": True, "at": 1796600000, "open": 1, "closed": 0}
    got, check = _walcheck_run(tmp_path, tool, report)
    assert got['pgfleet_wal_holes{state="open"}'] == 1
    assert got['pgfleet_wal_holes{state="closed"}'] == 0
    assert got["pgfleet_wal_check_success"] == 1
    assert got["pgfleet_wal_check_timestamp_seconds"] == 1796600000
    assert got[f'pgfleet_record_readable{{record="{check}"}}'] == 1


def test_a_failed_check_is_a_failure_with_the_files_time_and_no_hole_count(tmp_path, tool):
    got, check = _walcheck_run(tmp_path, tool, {"result": "failed", "problems": ["x"]})
    assert got["pgfleet_wal_check_success"] == 0
    assert abs(got["pgfleet_wal_check_timestamp_seconds"] - check.stat().st_mtime) < 1
    assert not any(k.startswith("pgfleet_wal_holes") for k in got)


def test_a_replica_reports_no_wal_check(tmp_path, tool):
    got, _ = _walcheck_run(tmp_path, tool, {"result": "passed", "primary": False, "at": 1.0})
    assert not any(k.startswith("pgfleet_wal_") for k in got)


def test_an_unreadable_wal_check_is_never_a_success(tmp_path, tool):
    got, check = _walcheck_run(tmp_path, tool, "garbage")
    assert got[f'pgfleet_record_readable{{record="{check}"}}'] == 0
    assert not any(k.startswith("pgfleet_wal_") for k in got)
