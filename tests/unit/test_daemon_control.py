"""The request channel between `stigmer server stop|start -c` and the running supervisor."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from stigmer.config import Settings
from stigmer.daemon import control
from stigmer.daemon.errors import DaemonError, StartTimeoutError
from stigmer.daemon.homedir import prepare_home
from support.waits import eventually


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home")
    prepare_home(settings)
    return settings


def _serve_once(settings: Settings, reply: control.Reply, seen: list[control.Request]) -> threading.Thread:
    """A stand-in supervisor that answers the first request it finds."""

    def run() -> None:
        def taken() -> list[control.Request]:
            requests = control.take(settings)
            assert requests, "no request yet"
            return requests

        requests = eventually(taken, timeout=10)
        seen.extend(requests)
        control.answer(settings, requests[0], reply)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_request_and_reply_round_trip_and_leave_no_file(settings: Settings) -> None:
    seen: list[control.Request] = []
    thread = _serve_once(settings, control.Reply(True, "temporal stopped"), seen)
    reply = control.send(settings, control.STOP, "temporal", 5.0, alive=lambda: True)
    thread.join(timeout=10)
    assert reply == control.Reply(True, "temporal stopped")
    assert [(r.action, r.component, r.timeout) for r in seen] == [("stop", "temporal", 5.0)]
    assert oct(stat.S_IMODE(settings.requests_dir.stat().st_mode)) == "0o700"
    assert list(settings.requests_dir.iterdir()) == []


def test_a_supervisor_that_dies_before_answering_is_an_error(settings: Settings) -> None:
    with pytest.raises(DaemonError, match="stopped before it answered"):
        control.send(settings, control.START, "temporal", 5.0, alive=lambda: False)
    assert list(settings.requests_dir.iterdir()) == [], "the unanswered request was left behind"


def test_no_reply_within_the_deadline_is_a_timeout(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "REPLY_MARGIN", 0.2)
    with pytest.raises(StartTimeoutError, match="did not answer within"):
        control.send(settings, control.START, "temporal", 0.1, alive=lambda: True)


def test_malformed_and_half_written_requests_are_ignored(settings: Settings) -> None:
    folder = settings.requests_dir
    folder.mkdir()
    (folder / "junk.json").write_text("{not json")
    (folder / ".abc.json.tmp").write_text('{"id": "abc"}')
    assert control.take(settings) == []
    assert not (folder / "junk.json").exists()
    control.clear(settings)
    assert not folder.exists()
