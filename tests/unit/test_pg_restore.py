"""pg_restore: the request check, the recoverable window and the backup a target starts
from (along the right history), and the drill's status line."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_restore import (
    FilterModule,
    pg_drill_status,
    pg_history_timelines,
    pg_restore_plan,
    pg_restore_request,
)

MB = 1024**2


def backup(label, start, stop, lsn_start, lsn_stop, tl=1, kind="full", size=100 * MB, error=False):
    return {
        "label": label,
        "type": kind,
        "timestamp": {"start": start, "stop": stop},
        "lsn": {"start": lsn_start, "stop": lsn_stop},
        "archive": {"start": f"{tl:08X}0000000000000002", "stop": f"{tl:08X}0000000000000003"},
        "info": {"size": size},
        "error": error,
    }


def info(*backups):
    return [{"name": "main", "backup": list(backups), "status": {"code": 0}}]


T0 = 1_795_800_000  # 2026-11-27 17:20:00 UTC
B1 = backup("20261127-000000F", T0, T0 + 60, "0/2000028", "0/3000050")
B2 = backup(
    "20261127-010000F_20261127-020000I", T0 + 3600, T0 + 3660, "0/6000028", "0/7000050", kind="incr"
)
END = {"time": T0 + 7200, "lsn": "0/A000000"}


def target(**kw):
    return pg_restore_request({f"restore_target_{k}": v for k, v in kw.items()})["target"]


def test_filters_exported():
    assert sorted(FilterModule().filters()) == [
        "pg_drill_status",
        "pg_history_timelines",
        "pg_restore_plan",
        "pg_restore_request",
    ]


# ---------------------------------------------------------------- request
@pytest.mark.parametrize(
    "value, epoch",
    [
        ("2026-11-28 04:30:00+00", 1795840200.0),
        ("2026-11-28T04:30:00Z", 1795840200.0),
        ("2026-11-28 05:30:00+01:00", 1795840200.0),
        ("2026-11-28 05:30+0100", 1795840200.0),
        ("2026-11-27 23:30:00-05", 1795840200.0),
        ("2026-11-28 04:30:00 UTC", 1795840200.0),
        ("2026-11-28 04:30:00.250000+00", 1795840200.25),
    ],
)
def test_time_with_a_zone(value, epoch):
    req = pg_restore_request({"restore_target_time": value})
    assert req["ok"], req["problems"]
    assert req["target"]["type"] == "time"
    assert req["target"]["epoch"] == epoch


@pytest.mark.parametrize(
    "value", ["2026-11-28 04:30:00", "2026-11-28T04:30", "2026-11-28 04:30:00.5"]
)
def test_time_without_a_zone_is_refused(value):
    req = pg_restore_request({"restore_target_time": value})
    assert not req["ok"]
    assert "has no time zone" in req["problems"][0]
    assert "restore_target_time" in req["problems"][0]


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13-01 00:00:00+00", "2026-11-28 04:30:00+25", "now()"]
)
def test_not_a_time_is_refused(value):
    req = pg_restore_request({"restore_target_time": value})
    assert not req["ok"]
    assert "restore_target_time" in req["problems"][0]


def test_a_bare_date_says_how_to_quote():
    req = pg_restore_request({"restore_target_time": "2026-11-28"})
    assert not req["ok"] and "Quote the whole time" in req["problems"][0]


def test_at_most_one_target():
    req = pg_restore_request(
        {"restore_target_time": "2026-11-28 04:30:00+00", "restore_target_lsn": "0/3000000"}
    )
    assert not req["ok"]
    assert "at most one" in req["problems"][0]


def test_no_target_is_the_end_of_the_archive():
    req = pg_restore_request({"restore_target_time": "", "restore_target_name": None})
    assert req["ok"] and req["target"]["type"] == "none" and req["mode"] == "in-place"


@pytest.mark.parametrize(
    "kind, value, ok",
    [
        ("name", "drill-20261128T0430", True),
        ("name", "before migration", False),
        ("name", "x" * 64, False),
        ("name", "a'; DROP", False),
        ("lsn", "0/3000060", True),
        ("lsn", "16/B374D848", True),
        ("lsn", "3000060", False),
        ("xid", "12345", True),
        ("xid", "2", False),
        ("xid", "-5", False),
    ],
)
def test_other_targets(kind, value, ok):
    req = pg_restore_request({f"restore_target_{kind}": value})
    assert req["ok"] is ok
    if not ok:
        assert f"restore_target_{kind}" in req["problems"][0]


def test_side_mode_needs_a_host():
    req = pg_restore_request({"restore_mode": "side"})
    assert not req["ok"] and "restore_host" in req["problems"][0]
    assert pg_restore_request({"restore_mode": "side", "restore_host": "pg3"})["ok"]


@pytest.mark.parametrize(
    "key, value, needle",
    [
        ("restore_mode", "inplace", "restore_mode"),
        ("restore_target_timeline", "two", "restore_target_timeline"),
        ("restore_set", "latest", "restore_set"),
        ("restore_host", "pg3; rm -rf /", "restore_host"),
    ],
)
def test_bad_settings_name_the_variable(key, value, needle):
    req = pg_restore_request({key: value})
    assert not req["ok"] and needle in req["problems"][0]


def test_timeline_forms():
    assert pg_restore_request({"restore_target_timeline": "3"})["timeline"] == 3
    assert pg_restore_request({"restore_target_timeline": "current"})["timeline"] == "current"


def test_request_must_be_a_dict():
    with pytest.raises(AnsibleFilterError):
        pg_restore_request("2026-11-28")


# ---------------------------------------------------------------- window and backup
def test_time_target_starts_from_the_newest_backup_before_it():
    # 2026-11-27 17:50:00 UTC: after B1 finished (17:21), before B2 did (18:21)
    t = target(time="2026-11-27 17:50:00+00")
    assert T0 + 60 < t["epoch"] < T0 + 3660
    plan = pg_restore_plan(info(B1, B2), t, 1, "", END, T0 + 7300)
    assert plan["ok"], plan["problems"]
    assert plan["backup"]["label"] == B1["label"]
    late = pg_restore_plan(
        info(B1, B2), {"type": "time", "epoch": T0 + 5000, "value": "x"}, 1, "", END, T0 + 7300
    )
    assert late["backup"]["label"] == B2["label"]
    assert late["window"]["first_epoch"] == T0 + 60
    assert late["estimate_s"] > 15


@pytest.mark.parametrize(
    "epoch, says",
    [
        (T0 + 30, "before the first backup"),
        (T0 + 60, "before the first backup"),
        (T0 + 7300 + 60, "in the future"),
        (T0 + 7250, "after the end of the archive"),
    ],
)
def test_time_outside_the_window_is_refused_with_the_window(epoch, says):
    plan = pg_restore_plan(
        info(B1, B2), {"type": "time", "epoch": epoch, "value": "t"}, 1, "", END, T0 + 7300
    )
    assert not plan["ok"]
    assert says in plan["problems"][0]
    assert "recoverable window on timeline 1" in plan["problems"][0]
    assert plan["backup"] is None


def test_a_live_primary_extends_the_window_to_now():
    t = {"type": "time", "epoch": T0 + 7250, "value": "t"}
    plan = pg_restore_plan(info(B1, B2), t, 1, "", END, T0 + 7300, live=True)
    assert plan["ok"] and plan["window"]["end_is_now"]


def test_small_clock_skew_is_not_the_future():
    t = {"type": "time", "epoch": T0 + 7303, "value": "t"}
    assert pg_restore_plan(info(B1, B2), t, 1, "", END, T0 + 7300, live=True)["ok"]


def test_lsn_target():
    plan = pg_restore_plan(info(B1, B2), target(lsn="0/8000000"), 1, "", END, T0 + 7300)
    assert plan["ok"] and plan["backup"]["label"] == B2["label"]
    assert (
        pg_restore_plan(info(B1, B2), target(lsn="0/6500000"), 1, "", END, T0 + 7300)["backup"][
            "label"
        ]
        == B1["label"]
    )
    early = pg_restore_plan(info(B1, B2), target(lsn="0/2500000"), 1, "", END, T0 + 7300)
    assert not early["ok"] and "before the first backup" in early["problems"][0]
    late = pg_restore_plan(info(B1, B2), target(lsn="0/B000000"), 1, "", END, T0 + 7300)
    assert not late["ok"] and "after the end of the archive" in late["problems"][0]


def test_name_and_no_target_take_the_newest_backup():
    for t in (target(name="drill-1"), target(), target(xid="1234")):
        assert (
            pg_restore_plan(info(B1, B2), t, 1, "", END, T0 + 7300)["backup"]["label"]
            == B2["label"]
        )


def test_backups_on_an_abandoned_branch_are_never_chosen():
    # Timeline 2 forked from timeline 1 at 0/5000000 (an earlier restore to that point):
    # B2, taken on timeline 1 after the fork, cannot reach timeline 2 (pgBackRest error 058).
    history = "1\t0/5000000\tbefore 2026-11-27 00:30:00+00\n"
    b3 = backup("20261127-030000F", T0 + 4000, T0 + 4060, "0/8000028", "0/9000050", tl=2)
    t = {"type": "time", "epoch": T0 + 4030, "value": "t"}
    plan = pg_restore_plan(
        info(B1, B2, b3), t, 2, history, {"time": T0 + 7200, "lsn": "0/A000000"}, T0 + 7300
    )
    assert plan["ok"], plan["problems"]
    assert plan["backup"]["label"] == B1["label"]
    assert plan["usable"] == [B1["label"], b3["label"]]
    assert plan["off_history"] == [B2["label"]]
    # Along timeline 1 instead (restore_target_timeline=1), B2 is usable again.
    one = pg_restore_plan(
        info(B1, B2, b3), t, 1, "", {"time": T0 + 7200, "lsn": "0/A000000"}, T0 + 7300
    )
    assert one["backup"]["label"] == B2["label"]


def test_failed_backups_are_skipped():
    bad = dict(B2, error=True)
    plan = pg_restore_plan(
        info(B1, bad), {"type": "time", "epoch": T0 + 5000, "value": "t"}, 1, "", END, T0 + 7300
    )
    assert plan["backup"]["label"] == B1["label"]


def test_no_usable_backup():
    plan = pg_restore_plan(info(), target(), 1, "", END, T0)
    assert not plan["ok"] and "No backup" in plan["problems"][0]


def test_backup_set_override():
    t = {"type": "time", "epoch": T0 + 5000, "value": "t"}
    assert (
        pg_restore_plan(info(B1, B2), t, 1, "", END, T0 + 7300, backup_set=B1["label"])["backup"][
            "label"
        ]
        == B1["label"]
    )
    unknown = pg_restore_plan(info(B1, B2), t, 1, "", END, T0 + 7300, backup_set="20200101-000000F")
    assert not unknown["ok"] and "restore_set" in unknown["problems"][0]
    after = pg_restore_plan(
        info(B1, B2),
        {"type": "time", "epoch": T0 + 3000, "value": "t"},
        1,
        "",
        END,
        T0 + 7300,
        backup_set=B2["label"],
    )
    assert not after["ok"] and "after the target time" in after["problems"][0]


def test_plan_needs_a_request_target():
    with pytest.raises(AnsibleFilterError):
        pg_restore_plan(info(B1), {"value": "x"}, 1)


# ---------------------------------------------------------------- holes in the archive
# pgBackRest dropped segments 4 and 5 of timeline 1 (archive-push-queue-max): segment 3
# reached the repository at T0 + 1000, segment 6 at T0 + 3000. B1 started before the hole,
# B2 after it.
HOLE = {
    "timeline": 1,
    "first": "000000010000000000000004",
    "last": "000000010000000000000005",
    "segments": 2,
    "lsn_start": "0/4000000",
    "lsn_end": "0/6000000",
    "from_epoch": T0 + 1000,
    "to_epoch": T0 + 3000,
    "from": "2026-11-27T17:36:40Z",
    "to": "2026-11-27T18:10:00Z",
    "dropped_logged": True,
}


def _plan(t, *backups, holes=(HOLE,), **kw):
    return pg_restore_plan(
        info(*(backups or (B1, B2))), t, 1, "", END, T0 + 7300, holes=list(holes), **kw
    )


def test_a_target_past_a_hole_from_a_backup_before_it_is_refused():
    plan = _plan({"type": "time", "epoch": T0 + 2000, "value": "2026-11-27 17:53:20+00"})
    assert not plan["ok"] and plan["backup"] is None
    problem = plan["problems"][0]
    # the hole: its segments, LSN range and time range; the backup that cannot cross it
    for says in (
        "0/4000000",
        "0/6000000",
        "2026-11-27T17:36:40Z",
        "2026-11-27T18:10:00Z",
        "000000010000000000000004",
        B1["label"],
        "dropped",
    ):
        assert says in problem, (says, problem)
    # and what works instead: a target before the hole, or after the first backup after it
    assert "before 2026-11-27T17:36:40Z" in problem
    assert B2["label"] in problem


def test_a_target_before_the_hole_or_after_a_later_backup_is_planned():
    before = _plan({"type": "time", "epoch": T0 + 500, "value": "t"})
    assert before["ok"] and before["backup"]["label"] == B1["label"]
    after = _plan({"type": "time", "epoch": T0 + 5000, "value": "t"})
    assert after["ok"] and after["backup"]["label"] == B2["label"]
    assert after["holes"] == [HOLE]
    assert "2026-11-27T17:36:40Z" in after["window_text"]


def test_lsn_targets_and_a_hole():
    assert _plan(target(lsn="0/3800000"))["ok"]
    refused = _plan(target(lsn="0/5000000"))
    assert not refused["ok"] and "0/4000000" in refused["problems"][0]
    assert _plan(target(lsn="0/8000000"))["ok"]


def test_the_end_of_the_archive_needs_a_backup_after_the_hole():
    assert _plan(target())["backup"]["label"] == B2["label"]
    only_b1 = _plan(target(), B1)
    assert not only_b1["ok"]
    assert "full backup" in only_b1["problems"][0]


def test_a_chosen_backup_set_before_the_hole_is_refused():
    plan = _plan({"type": "time", "epoch": T0 + 5000, "value": "t"}, backup_set=B1["label"])
    assert not plan["ok"] and "0/4000000" in plan["problems"][0]


def test_names_and_xids_cannot_be_placed_so_the_hole_is_a_warning():
    plan = _plan(target(name="drill-1"), B1)
    assert plan["ok"] and plan["backup"]["label"] == B1["label"]
    assert "2026-11-27T17:36:40Z" in plan["warnings"][0]
    assert _plan(target(name="drill-1"))["warnings"] == []


def test_holes_off_the_path_do_not_count():
    # a hole on another timeline, or before the backup the restore starts from
    other = dict(HOLE, timeline=3)
    assert _plan({"type": "time", "epoch": T0 + 2000, "value": "t"}, holes=[other])["ok"]
    early = dict(
        HOLE, lsn_start="0/1000000", lsn_end="0/2000000", from_epoch=T0 - 900, to_epoch=T0 - 600
    )
    plan = _plan({"type": "time", "epoch": T0 + 2000, "value": "t"}, holes=[early])
    assert plan["ok"] and plan["holes"] == []
    assert _plan({"type": "time", "epoch": T0 + 2000, "value": "t"}, holes=[])["ok"]


# ---------------------------------------------------------------- history
def test_history_ancestry():
    text = "1\t0/5000000\tno recovery target specified\n\n2\t0/9000000\tbefore 2026-11-28\n"
    assert pg_history_timelines(text, 3) == [
        {"timeline": 1, "end": 0x5000000},
        {"timeline": 2, "end": 0x9000000},
        {"timeline": 3, "end": None},
    ]
    assert pg_history_timelines("", 1) == [{"timeline": 1, "end": None}]
    with pytest.raises(AnsibleFilterError):
        pg_history_timelines("garbage line", 2)


# ---------------------------------------------------------------- drill status
NOW = 1_795_900_000.0


def report(finished, result="passed"):
    return {
        "finished": finished,
        "result": result,
        "rto_seconds": 7.5,
        "backup": {"label": "F"},
        "problems": ["x"],
    }


def test_drill_never_run_is_reported_not_a_problem():
    out = pg_drill_status([{}, {}], NOW)
    assert out["problem"] is None and "never" in out["line"]


def test_drill_newest_report_counts():
    old_failed = report("2026-11-20T00:00:00Z", "failed")
    fresh = report("2026-11-28T10:00:00Z")
    out = pg_drill_status([old_failed, fresh], NOW)
    assert out["problem"] is None and out["line"].startswith("passed")


def test_drill_failed_or_old_is_a_problem():
    assert "failed" in pg_drill_status([report("2026-11-28T10:00:00Z", "failed")], NOW)["problem"]
    old = pg_drill_status([report("2026-11-10T00:00:00Z")], NOW, 8)
    assert "days old" in old["problem"]
    assert pg_drill_status([report("2026-11-10T00:00:00Z")], NOW, 30)["problem"] is None


def in_repo(b, key):
    return {**b, "database": {"id": 1, "repo-key": key}}


def test_two_repositories_a_target_after_repo2s_first_backup_comes_from_repo2():
    # A repository cipher rotation: repo1 has B1 and a later diff R1 (scheduled backups stay
    # there), repo2 its first full B2 between them.
    r1 = backup("20261127-000000F_20261127-013000D", T0 + 5400, T0 + 5460, "0/8000028", "0/8000100")
    two = info(in_repo(B1, 1), in_repo(B2, 2), in_repo(r1, 1))
    before = pg_restore_plan(two, {"type": "time", "epoch": T0 + 1800, "value": "x"}, 1, "", END)
    assert before["ok"] and before["backup"]["label"] == B1["label"]
    assert before["backup"]["repo"] == 1
    after = pg_restore_plan(two, {"type": "time", "epoch": T0 + 6000, "value": "x"}, 1, "", END)
    assert after["ok"] and after["backup"]["label"] == B2["label"] and after["backup"]["repo"] == 2
    latest = pg_restore_plan(two, {"type": "none"}, 1, "", END)
    assert latest["backup"]["repo"] == 2
    assert "repo1 from" in after["window_text"] and "repo2 from" in after["window_text"]
    assert after["window"]["repos"] == {
        "1": "2026-11-27 17:21:00+00",
        "2": "2026-11-27 18:21:00+00",
    }


def test_one_repository_the_plan_says_repo1_and_no_window_per_repository():
    plan = pg_restore_plan(info(B1, B2), {"type": "none"}, 1, "", END)
    assert plan["backup"]["repo"] == 1 and "repo1 from" not in plan["window_text"]
