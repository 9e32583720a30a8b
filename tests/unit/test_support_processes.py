"""support.processes: run-ID labels, and the sweep that kills what dead runs left behind."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from support.processes import LABEL_ENV, RunId, is_gone, label_of, sweep_orphans
from support.waits import wait_until


def test_run_id_round_trips_through_its_label() -> None:
    run = RunId(4242, 1700000000123, "smoke-test_server-1")
    assert str(run) == "4242-1700000000123-smoke-test_server-1"
    assert RunId.parse(str(run)) == run
    assert RunId.parse("4242-1700000000123") == RunId(4242, 1700000000123)
    assert run.run == RunId(4242, 1700000000123)


@pytest.mark.parametrize("text", ["", "abc", "0-123", "12", "12-x", "12-34-", "12-34-bad tag", "-1-2"])
def test_malformed_run_ids_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="is not a run ID"):
        RunId.parse(text)


def test_with_tag_rejects_a_tag_that_would_not_parse() -> None:
    with pytest.raises(ValueError):
        RunId(1, 2).with_tag("has space")


def test_this_process_owns_a_live_run() -> None:
    run = RunId.for_process(tag="unit")
    assert run.owner_pid == os.getpid()
    assert run.owner_alive()


def test_a_run_whose_owner_started_at_another_time_is_dead() -> None:
    me = RunId.for_process()
    assert not RunId(me.owner_pid, me.owner_started_ms - 60_000).owner_alive()


def test_a_run_whose_owner_pid_is_gone_is_dead() -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, timeout=30)
    pid = int(done.stdout)
    assert is_gone(pid)
    assert not RunId(pid, 1).owner_alive()


def _sleeper(label: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, LABEL_ENV: label}
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)


def _sweep_once() -> tuple[int, list[int]]:
    """Start an orphan (its run's owner is gone) and a process of a live run, sweep; the orphan's PID and
    what this sweep killed. The process of the live run must survive."""
    live = RunId.for_process(tag="live")
    orphan_label = RunId(live.owner_pid, live.owner_started_ms - 3_600_000, "dead")
    orphan, spared = _sleeper(str(orphan_label)), _sleeper(str(live))
    try:
        wait_until(lambda: label_of(psutil.Process(orphan.pid)) == orphan_label, "label not visible", timeout=10)
        swept = sweep_orphans(timeout=5)
        assert orphan.wait(timeout=5) is not None, "the orphan outlived the sweep"
        assert spared.poll() is None, "the sweep killed a process of a live run"
        assert spared.pid not in swept
        return orphan.pid, swept
    finally:
        for proc in (orphan, spared):
            proc.kill()
            proc.wait(timeout=5)


def test_sweep_kills_orphans_and_spares_live_runs() -> None:
    # Every pytest session on the machine (an xdist worker beside this one, an inner session) sweeps at its
    # start and may take the orphan first; only that case is tried again.
    for _ in range(3):
        pid, swept = _sweep_once()
        if pid in swept:
            return
    raise AssertionError("three sweeps never killed their own orphan: another sweep always came first")
