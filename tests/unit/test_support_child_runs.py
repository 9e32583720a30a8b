"""A tier's pytest run started by the flake loop or the remote-stack job never outlives its parent."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.child_runs import RunTimeoutError, run_child
from support.processes import is_gone
from support.waits import eventually, wait_process_gone

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for a pytest run: starts a grandchild, says both pids, and on Ctrl-C notes that it tore down.
CHILD = textwrap.dedent(
    """
    import subprocess, sys, time
    from pathlib import Path
    folder = Path(sys.argv[1])
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    (folder / "pids").write_text(f"{grandchild.pid}\\n")
    try:
        time.sleep(600)
    except KeyboardInterrupt:
        (folder / "torn-down").write_text("yes")
        raise
    """
)


def _pids(folder: Path) -> list[int]:
    path = folder / "pids"
    assert path.is_file(), "not written yet"
    text = path.read_text()
    assert text.endswith("\n"), "not written yet"
    return [int(text)]


def test_a_run_past_its_ceiling_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    with pytest.raises(RunTimeoutError, match="killed after 3 s"):
        run_child([sys.executable, "-c", CHILD, str(tmp_path)], timeout=3)
    [grandchild] = _pids(tmp_path)
    wait_process_gone(grandchild, timeout=10)


def test_a_terminated_parent_interrupts_its_run_which_tears_down_then_nothing_is_left(tmp_path: Path) -> None:
    parent_code = textwrap.dedent(
        f"""
        import sys
        from support.child_runs import exit_on_sigterm, run_child
        exit_on_sigterm()
        run_child([sys.executable, "-c", {CHILD!r}, {str(tmp_path)!r}], timeout=600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=ROOT)
    try:
        [grandchild] = eventually(lambda: _pids(tmp_path), timeout=60, alive=lambda: _alive(parent))
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=90) == 128 + signal.SIGTERM
        assert (tmp_path / "torn-down").read_text() == "yes", "the run was not interrupted (no Ctrl-C reached it)"
        assert is_gone(grandchild), "a process the run started outlived it"
    finally:
        parent.kill()


def _alive(proc: subprocess.Popen[bytes]) -> None:
    assert proc.poll() is None, f"the parent exited with {proc.returncode}"
