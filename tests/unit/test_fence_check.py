"""The pure parts of roles/postgresql_server/files/postgresql-fence-check, the start-up fence
check of the PostgreSQL unit: what each source's answer means, and the decision from them.

It fails closed: a newer timeline anywhere fences the node (marker), any error refuses the
start (no marker), an answer with nothing newer lets it start, and only "the store did not
answer in time and no member answered" starts without proof."""

import socket
from pathlib import Path

import pytest
from conftest import load_script

TOOL = Path(__file__).resolve().parents[2] / "roles/postgresql_server/files/postgresql-fence-check"


@pytest.fixture(scope="module")
def tool():
    return load_script("postgresql_fence_check", TOOL)


def ev(tool, kind, tl=None, source="the store", detail="d"):
    outcome = {
        "tl": tool.TIMELINE,
        "silent": tool.UNREACHABLE,
        "error": tool.ERROR,
        "none": tool.NOT_CONFIGURED,
        "foreign": tool.FOREIGN,
    }[kind]
    return tool.Evidence(source, outcome, tl, detail)


# (local timeline, [(kind, timeline, source)], expected action)
DECISIONS = [
    # nothing newer anywhere: start
    (2, [("tl", 2, "the store"), ("tl", 2, "member pg2")], "start"),
    (2, [("tl", 1, "the store"), ("tl", 2, "member pg2")], "start"),
    # one source is enough when the others are silent
    (2, [("silent", None, "the store"), ("tl", 2, "member pg2")], "start"),
    (2, [("tl", 2, "the store"), ("silent", None, "member pg2")], "start"),
    (1, [("none", None, "the store"), ("tl", 1, "member pg2")], "start"),
    # a newer timeline anywhere fences, whatever else was said
    (1, [("tl", 2, "the store"), ("tl", 1, "member pg2")], "fence"),
    (1, [("silent", None, "the store"), ("tl", 2, "member pg2")], "fence"),
    (1, [("error", None, "the store"), ("tl", 2, "member pg3")], "fence"),
    (1, [("tl", 3, "the store"), ("error", None, "member pg2")], "fence"),
    (1, [("none", None, "the store"), ("tl", 2, "member pg2")], "fence"),
    # any error refuses, even when others agree (no marker: the next start asks again)
    (2, [("error", None, "the store"), ("tl", 2, "member pg2")], "refuse"),
    (2, [("tl", 2, "the store"), ("error", None, "member pg2")], "refuse"),
    (2, [("error", None, "the store"), ("silent", None, "member pg2")], "refuse"),
    (2, [("error", None, "the store")], "refuse"),
    # the only start without proof: the store silent and no member answering
    (2, [("silent", None, "the store"), ("silent", None, "member pg2")], "start_unverified"),
    (2, [("silent", None, "the store")], "start_unverified"),
    # a new cluster: no repository yet, no member running
    (1, [("none", None, "the store"), ("silent", None, "member pg2")], "start_unverified"),
    # a member of another cluster is noted, never counted (neither newer nor an answer)
    (1, [("silent", None, "the store"), ("foreign", 5, "member pg9")], "start_unverified"),
    (2, [("tl", 2, "the store"), ("foreign", 9, "member pg9")], "start"),
]


@pytest.mark.parametrize("local, said, action", DECISIONS)
def test_decision_table(tool, local, said, action):
    evidence = [ev(tool, k, tl, src) for k, tl, src in said]
    decision = tool.decide(local, evidence)
    assert decision.action == action, decision.reason
    assert decision.starts == (action in ("start", "start_unverified"))


@pytest.mark.parametrize("local, outcome", [(1, "not configured"), (2, "error"), (5, "error")])
def test_no_repository_is_a_new_cluster_only(tool, local, outcome):
    said = [ev(tool, "none", detail="no pgbackrest.conf"), ev(tool, "tl", 1, "member pg2")]
    settled = tool.settle_unconfigured_store(said, local)
    assert settled[0].outcome == outcome and settled[1] == said[1]
    if outcome == "error":
        assert f"this node's data is on timeline {local}" in settled[0].detail
        assert tool.decide(local, settled).action == "refuse"


def test_fence_names_the_newest_source(tool):
    decision = tool.decide(
        1, [ev(tool, "tl", 2, "the store"), ev(tool, "tl", 3, "member pg2 (10.0.0.2)")]
    )
    assert decision.reason.startswith("member pg2 (10.0.0.2) is on timeline 3")
    assert "this node's data is on timeline 1" in decision.reason
    assert "another node was promoted" in decision.reason


def test_refusal_names_every_error(tool):
    decision = tool.decide(
        2,
        [
            ev(tool, "error", source="the store", detail="pgBackRest: ERROR: [039]: 403"),
            ev(tool, "error", source="member pg3", detail="password authentication failed"),
        ],
    )
    assert "the store: pgBackRest: ERROR: [039]: 403" in decision.reason
    assert "member pg3: password authentication failed" in decision.reason


def test_journal_gives_the_next_step(tool):
    evidence = [ev(tool, "tl", 2, "member pg2")]
    fence = tool.decide(1, evidence)
    lines = tool.journal_lines(fence, evidence, "pg1")
    assert lines[0] == "fence check: member pg2: timeline 2 (d)"
    assert lines[-1].startswith("FENCED: member pg2 is on timeline 2")
    assert lines[-1].endswith("playbooks/rejoin.yml -e rejoin_host=pg1")
    refuse = tool.decide(2, [ev(tool, "error", detail="HTTP 403")])
    last = tool.journal_lines(refuse, [], "pg1")[-1]
    assert last.startswith("REFUSED: the fence check could not prove")
    assert "no marker: the next start asks again" in last and "rejoin_host=pg1" in last
    blind = tool.decide(2, [ev(tool, "silent", detail="no answer within 12 s")])
    assert (
        "STARTING WITHOUT PROOF: the store: no answer within 12 s"
        in (tool.journal_lines(blind, [], "pg1")[-1])
    )


@pytest.mark.parametrize(
    "standby, recovery, marker, action",
    [
        (True, False, None, "start"),
        (True, False, "fenced by failover.yml", "start"),  # a standby takes no writes
        (False, False, "fenced by failover.yml", "refuse"),
        (False, True, "fenced by failover.yml", "refuse"),  # recovery.signal promotes itself
        (False, True, None, "start"),
        (False, False, None, None),  # ask the sources
    ],
)
def test_start_gate(tool, standby, recovery, marker, action):
    gate = tool.start_gate(standby, recovery, marker)
    assert (gate.action if gate else None) == action
    if action == "refuse":
        assert gate.reason.startswith("FENCED: fenced by failover.yml")


CONTROL = """\
pg_control version number:            1700
Database system identifier:           7716049015442485127
Database cluster state:               in production
Latest checkpoint's TimeLineID:       3
Latest checkpoint's PrevTimeLineID:   2
"""


def test_parse_controldata(tool):
    """The fields the check reads, from the shared parser (it has no parser of its own)."""
    assert not hasattr(tool, "parse_controldata")
    parsed = tool.controldata.parse(CONTROL)
    assert (parsed["system_identifier"], parsed["timeline"], parsed["state"]) == (
        "7716049015442485127",
        3,
        "in production",
    )
    assert tool.controldata.parse("garbage")["timeline"] is None


@pytest.mark.parametrize(
    "names, expected",
    [
        ([], 0),
        (["000000010000000000000001", "archive_status"], 0),
        (["00000002.history", "0000000A.history", "00000003.history"], 10),
        (["17-1/00000002.history", "archive.info", "17-1/0000000B.history"], 11),
        (["00000002.history.partial", "x00000002.history"], 0),
    ],
)
def test_history_timeline(tool, names, expected):
    assert tool.lsn.history_timeline(names) == expected


@pytest.mark.parametrize(
    "control, history, expected",
    [(1, 0, 1), (1, 2, 2), (3, 2, 3), (None, 4, None)],
)
def test_local_timeline(tool, control, history, expected):
    # promoted: the history file exists before the first checkpoint on the new timeline
    assert tool.local_timeline(control, history) == expected


FORBIDDEN = """P00  ERROR: [039]: HTTP request failed with 403 (Forbidden):
       *** Path/Query ***:
       HEAD /pgfleet-lab/pgbackrest/learning/archive/main"""
NO_BUCKET = "ERROR: [039]: HTTP request failed with 404 (Not Found):\n *** NoSuchBucket"
NO_NAME = (
    "ERROR: [049]: unable to get address for 'r2.example': [-2] Name or service not known\n"
    "    [HostConnectError] on 2 retries from 2104-3207ms: unable to get address"
)
REFUSED = "ERROR: [049]: unable to connect to '10.0.0.9:443': [111] Connection refused"
NO_ROUTE = "ERROR: [049]: unable to connect to '10.0.0.9:443': [113] No route to host"
CONNECT_TIMEOUT = "ERROR: [049]: timeout connecting to '10.0.0.9:443'"
RESOLVER_SILENT = (
    "ERROR: [049]: unable to get address for 'r2': [-3] Temporary failure in name resolution"
)
TLS = (
    "ERROR: [095]: unable to verify certificate presented by 'r2:443 (10.89.73.10)': [20] "
    "unable to get local issuer certificate"
)
BUSY = "ERROR: [039]: HTTP request failed with {} ({}):\n *** Path/Query ***:"
NO_CONFIG = "ERROR: [055]: unable to open missing file '/etc/pgbackrest/pgbackrest.conf'"


@pytest.mark.parametrize(
    "rc, out, err, outcome, timeline, detail",
    [
        (0, "archive.info\n", "", "timeline", 1, "no history file: timeline 1"),
        (0, "archive.info\n17-1/00000002.history\n17-1/00000003.history\n", "", "timeline", 3, ""),
        # an empty listing: not this stanza's repository (wrong bucket, path, endpoint)
        (0, "", "", "error", None, "holds no archive of stanza main"),
        (0, "17-1/00000002.history\n", "", "error", None, "archive.info is missing"),
        # no answer in time, or the connection failed: silent
        (None, "", "", "unreachable", None, "no answer within 12 s"),
        (49, "", REFUSED, "unreachable", None, "the connection failed"),
        (49, "", NO_ROUTE, "unreachable", None, "No route to host"),
        (49, "", CONNECT_TIMEOUT, "unreachable", None, "timeout connecting"),
        (49, "", RESOLVER_SILENT, "unreachable", None, "the resolver did not answer"),
        (39, "", BUSY.format(503, "Service Unavailable"), "unreachable", None, "could not answer"),
        (39, "", BUSY.format(429, "Too Many Requests"), "unreachable", None, "429"),
        (39, "", BUSY.format(500, "Internal Server Error"), "unreachable", None, "500"),
        (39, "", BUSY.format(400, "Bad Request"), "error", None, "400"),
        # any other answer is an error
        (39, "", FORBIDDEN, "error", None, "403 (Forbidden)"),
        (39, "", NO_BUCKET, "error", None, "404 (Not Found)"),
        (49, "", NO_NAME, "error", None, "Name or service not known"),
        (95, "", TLS, "error", None, "unable to verify certificate"),
        (55, "", NO_CONFIG, "error", None, "unable to open missing file"),
        (1, "", "", "error", None, "exit 1"),
    ],
)
def test_repo_evidence(tool, rc, out, err, outcome, timeline, detail):
    e = tool.repo_evidence(rc, out, err, 12, "main")
    assert (e.outcome, e.timeline) == (outcome, timeline), e
    assert detail in e.detail
    assert "***" not in e.detail or len(e.detail) <= 300  # one line, cut


@pytest.mark.parametrize(
    "message, record_only, outcome",
    [
        ('connection to server at "10.0.0.2", port 5432 failed: Connection refused', False, "u"),
        ('connection to server at "10.0.0.2", port 5432 failed: timeout expired', False, "u"),
        ("could not connect: No route to host", False, "u"),
        ("FATAL:  the database system is starting up", False, "u"),
        ("FATAL:  the database system is not yet accepting connections", False, "u"),
        ("FATAL:  the database system is shutting down", False, "u"),
        ('could not translate host name "pg2": Temporary failure in name resolution', False, "u"),
        ('could not translate host name "pg9": Name or service not known', True, "u"),
        # errors: the member answered, or the question could not be asked
        ('could not translate host name "pg2": Name or service not known', False, "e"),
        ('FATAL:  password authentication failed for user "replicator"', False, "e"),
        ("fe_sendauth: no password supplied", False, "e"),
        ('FATAL:  no pg_hba.conf entry for replication connection from "10.0.0.1"', False, "e"),
        ('FATAL:  pg_hba.conf rejects replication connection for host "10.0.0.1"', False, "e"),
        ("SSL error: certificate verify failed", False, "e"),
        ('server certificate for "pg2" does not match host name "10.0.0.2"', False, "e"),
        ("FATAL:  sorry, too many clients already", False, "e"),
    ],
)
def test_member_outcome(tool, message, record_only, outcome):
    want = {"u": tool.UNREACHABLE, "e": tool.ERROR}[outcome]
    assert tool.member_outcome(message, record_only) == want


def test_identify_evidence(tool):
    row = ("7716049015442485127", 2, "0/6000000", None)
    same = tool.identify_evidence("member pg2", "7716049015442485127", row)
    assert (same.outcome, same.timeline) == (tool.TIMELINE, 2)
    other = tool.identify_evidence("member pg2", "1111111111111111111", row)
    assert other.outcome == tool.FOREIGN and "not this cluster's" in other.detail


def test_resolve_and_connect_outcomes(tool):
    assert tool.resolve_outcome(socket.EAI_AGAIN) == tool.UNREACHABLE
    assert tool.resolve_outcome(socket.EAI_NONAME) == tool.ERROR
    assert tool.resolve_outcome(None) == tool.ERROR
    assert tool.connect_outcome(ConnectionRefusedError()) == tool.UNREACHABLE
    assert tool.connect_outcome(TimeoutError()) == tool.UNREACHABLE
    assert tool.connect_outcome(OSError(113, "No route to host")) == tool.UNREACHABLE
    assert tool.connect_outcome(PermissionError(13, "denied")) == tool.ERROR


@pytest.mark.parametrize(
    "texts, expected",
    [
        ([], False),
        (["# nothing\nwal_level = replica\n"], False),
        (["archive_mode = off\narchive_command = ''\n"], False),
        (["archive_mode = on\n"], True),
        (["archive_mode = 'always'\n"], True),
        (["archive_mode = yes\n"], True),
        (["archive_mode = ture\n"], False),
        (["x = 1\n", "archive_command = 'pgbackrest --stanza=main archive-push %p'\n"], True),
        (["#archive_mode = on\n"], False),
    ],
)
def test_archiving_configured(tool, texts, expected):
    assert tool.archiving_configured(texts) is expected


@pytest.mark.parametrize(
    "conf, expected",
    [
        ("[global]\nrepo1-type=s3\nrepo1-s3-endpoint=r2\n", ("r2", 443)),
        (
            "[global]\nrepo1-type=s3\nrepo1-s3-endpoint=r2\nrepo1-s3-bucket=b\n"
            "repo1-s3-uri-style=path\n",
            ("r2", 443),
        ),
        (
            "[global]\nrepo1-type=s3\nrepo1-s3-endpoint=s3.example\nrepo1-s3-bucket=b\n",
            ("b.s3.example", 443),
        ),
        (
            "[global]\nrepo1-type=s3\nrepo1-s3-endpoint=x.r2.cloudflarestorage.com\n"
            "repo1-storage-port=8443\n[main]\npg1-path=/d\n",
            ("x.r2.cloudflarestorage.com", 8443),
        ),
        ("[global]\nrepo1-type=s3\nrepo1-s3-endpoint=a\nrepo1-storage-host=b\n", ("b", 443)),
        ("[global]\nrepo1-type=s3\n[main]\nrepo1-s3-endpoint=c\n", ("c", 443)),
        ("[global]\nrepo1-type=posix\nrepo1-path=/var/lib/pgbackrest\n", None),
        ("[global]\nrepo1-path=/x\n", None),
        ("not an ini file", None),
    ],
)
def test_store_endpoint(tool, conf, expected):
    assert tool.store_endpoint(conf, "main") == expected


def test_member_targets_include_the_record(tool):
    members = {"pg1": "10.0.0.1", "pg2": "10.0.0.2", "pg3": ""}
    record = {"epoch": 3, "primary": "pg2", "fenced": ["pg1", "pg7"], "from": "pg1"}
    assert tool.member_targets(members, record, "pg1") == {
        "pg2": ("10.0.0.2", False),
        "pg3": ("pg3", False),
        "pg7": ("pg7", True),
    }
    assert tool.member_targets(members, None, "pg2") == {
        "pg1": ("10.0.0.1", False),
        "pg3": ("pg3", False),
    }


@pytest.mark.parametrize(
    "uid, mode, dir_uid, dir_mode, trusted",
    [
        (0, 0o100644, 0, 0o40755, True),
        (0, 0o100600, 0, 0o40700, True),
        (116, 0o100644, 0, 0o40755, False),  # postgres owns the file
        (0, 0o100644, 116, 0o40755, False),  # postgres owns the directory
        (0, 0o100664, 0, 0o40755, False),  # group-writable
        (0, 0o100644, 0, 0o40777, False),  # world-writable directory
    ],
)
def test_record_trusted(tool, uid, mode, dir_uid, dir_mode, trusted):
    assert tool.record_trusted(uid, mode, dir_uid, dir_mode) is trusted


@pytest.fixture
def own_environ(tool, monkeypatch):
    """main() sets LC_ALL and PGOPTIONS for itself: keep them out of this test process."""
    monkeypatch.setattr(tool.os, "environ", dict(tool.os.environ))


def test_an_unmanaged_cluster_starts_unchecked(tool, tmp_path, monkeypatch, own_environ):
    monkeypatch.setattr(tool, "CONFIG_ROOT", tmp_path)
    assert tool.main(["postgresql-fence-check", "17-restore"]) == 0


def test_a_broken_config_refuses(tool, tmp_path, monkeypatch, capsys, own_environ):
    monkeypatch.setattr(tool, "CONFIG_ROOT", tmp_path)
    (tmp_path / "17-main").mkdir()
    (tmp_path / "17-main" / "fence-check.json").write_text("{not json")
    assert tool.main(["postgresql-fence-check", "17-main"]) == 1
    assert "REFUSED: the fence check failed" in capsys.readouterr().err
    (tmp_path / "17-main" / "fence-check.json").write_text('{"instance": "17-other"}')
    assert tool.main(["postgresql-fence-check", "17-main"]) == 1


def _cfg(tmp_path, **extra):
    data = tmp_path / "data"
    (data / "pg_wal").mkdir(parents=True, exist_ok=True)
    cfg = {
        "instance": "17-main",
        "host": "pg1",
        "data_dir": str(data),
        "bin_dir": str(tmp_path / "bin"),
        "dropin_dir": str(tmp_path / "conf.d"),
        "fence_file": str(tmp_path / "state" / "FENCED"),
        "legacy_fence_files": [str(tmp_path / "old-FENCED")],
        "record_file": str(tmp_path / "state" / "topology.json"),
        "stanza": "main",
        "pgbackrest_config": str(tmp_path / "pgbackrest.conf"),
        "port": 5432,
        "members": {},
        "replication_user": "replicator",
        "passfile": str(tmp_path / ".pgpass"),
        "ca_file": str(tmp_path / "ca.crt"),
        "store_timeout": 2,
        "member_timeout": 2,
    }
    cfg.update(extra)
    return cfg


def test_check_refuses_without_pg_control(tool, tmp_path):
    decision, lines = tool.check(_cfg(tmp_path))
    assert decision.action == "refuse"
    assert (
        "this node's timeline cannot be read" in lines[-1]
        and "pg_control is missing" in (lines[-1])
    )


def test_check_honours_the_marker_at_its_old_place(tool, tmp_path):
    (tmp_path / "old-FENCED").write_text("fenced by failover.yml at 2026-01-01T00:00:00Z\n")
    (tmp_path / "data" / "recovery.signal").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "data" / "recovery.signal").write_text("")
    decision, lines = tool.check(_cfg(tmp_path))
    assert decision.action == "refuse"
    assert lines[-1].startswith("FENCED: fenced by failover.yml at 2026-01-01")


def test_check_a_new_cluster_starts_and_says_so(tool, tmp_path, monkeypatch):
    """The first start of a new cluster: pg_control on timeline 1, no pgbackrest.conf and
    no archiving configured yet, no member running."""
    cfg = _cfg(tmp_path, members={"pg2": "192.0.2.2"})
    control = Path(cfg["data_dir"]) / "global" / "pg_control"
    control.parent.mkdir(parents=True)
    control.write_bytes(b"\0" * 8)

    class Proc:
        returncode, stdout, stderr = 0, CONTROL.replace("TimeLineID:       3", "TimeLineID: 1"), ""

    monkeypatch.setattr(tool.subprocess, "run", lambda *a, **k: Proc())
    silent = tool.Evidence("member pg2 (192.0.2.2)", tool.UNREACHABLE, detail="refused")
    monkeypatch.setattr(tool, "member_probe", lambda *a: silent)
    decision, lines = tool.check(cfg)
    assert decision.action == "start_unverified", lines
    assert any("the store: NOT CONFIGURED" in line for line in lines)
    assert not Path(cfg["fence_file"]).exists()
    # archiving configured, but pgbackrest.conf gone: an error, refused
    Path(cfg["dropin_dir"]).mkdir()
    (Path(cfg["dropin_dir"]) / "91-pgbackrest.conf").write_text("archive_mode = on\n")
    decision, lines = tool.check(cfg)
    assert decision.action == "refuse" and "WAL archiving is configured" in lines[-1]


def test_check_writes_the_marker_when_a_member_is_newer(tool, tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, members={"pg2": "192.0.2.2"})
    control = Path(cfg["data_dir"]) / "global" / "pg_control"
    control.parent.mkdir(parents=True)
    control.write_bytes(b"\0" * 8)
    (Path(cfg["data_dir"]) / "pg_wal" / "00000002.history").write_text("1\t0/3000000\tx\n")

    class Proc:
        returncode, stdout, stderr = 0, CONTROL.replace("TimeLineID:       3", "TimeLineID: 1"), ""

    monkeypatch.setattr(tool.subprocess, "run", lambda *a, **k: Proc())
    newer = tool.Evidence("member pg2 (192.0.2.2)", tool.TIMELINE, 3, "at 0/9000000")
    monkeypatch.setattr(tool, "member_probe", lambda *a: newer)
    decision, lines = tool.check(cfg)
    assert decision.action == "fence"
    assert "fence check: this node's data is on timeline 2" in lines  # history, not pg_control
    marker = Path(cfg["fence_file"])
    assert marker.read_text().startswith("member pg2 (192.0.2.2) is on timeline 3")
    assert oct(marker.stat().st_mode & 0o777) == "0o644"
