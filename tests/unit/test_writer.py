"""The fault writer's own guard: a session that would acknowledge commits no standby has
confirmed makes the no-lost-row checks meaningless, so the writer refuses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
writer = load_script("fault_writer", ROOT / "molecule/shared/files/writer.py")


@pytest.mark.parametrize("mode", ["on", "remote_write", "remote_apply"])
def test_waiting_modes_with_standbys_are_synchronous(mode):
    assert writer.asynchronous_reason(mode, "ANY 1 (pg1, pg2, pg3)") is None


@pytest.mark.parametrize("mode", ["local", "off"])
def test_local_or_off_is_refused_by_name(mode):
    reason = writer.asynchronous_reason(mode, "ANY 1 (pg2, pg3)")
    assert reason is not None and f"synchronous_commit is '{mode}'" in reason


def test_no_standby_names_is_refused():
    assert "synchronous_standby_names is empty" in writer.asynchronous_reason("on", "  ")


def test_a_synchronous_transaction_is_committed_whatever_the_requirement():
    for require in (None, "stop", "skip"):
        assert writer.on_asynchronous(require, None) == "commit"


def test_an_asynchronous_transaction_is_committed_only_without_a_requirement():
    reason = "synchronous_standby_names is empty"
    assert writer.on_asynchronous(None, reason) == "commit"
    assert writer.on_asynchronous("stop", reason) == "stop"
    assert writer.on_asynchronous("skip", reason) == "skip"


def test_an_unknown_requirement_is_refused():
    with pytest.raises(ValueError, match="stop or skip"):
        writer.on_asynchronous("wait", "synchronous_standby_names is empty")
