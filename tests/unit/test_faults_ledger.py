"""The ledger every injector writes: entries, their times, JSON, and the base template's bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.faults.base import FaultError, Injector, undo_active
from support.faults.ledger import Ledger


class Flag(Injector):
    """A fault that only sets a flag: what the template does around it is under test."""

    kind = "flag"

    def __init__(self, ledger: Ledger, fail_inject: bool = False, **options: Any) -> None:
        super().__init__("flag", ledger=ledger, **options)
        self.on = False
        self.fail_inject = fail_inject

    def _inject(self) -> dict[str, Any]:
        if self.fail_inject:
            raise OSError("cannot")
        self.on = True
        return {"set": True}

    def _undo(self) -> dict[str, Any]:
        self.on = False
        return {"cleared": True}


def test_an_entry_records_the_fault_from_start_to_end(tmp_path: Path) -> None:
    ledger = Ledger()
    assert ledger, "an empty ledger is still truthy"
    with Flag(ledger) as fault:
        assert fault.on and fault.active and len(ledger.active()) == 1
    assert not fault.on and not fault.active
    (entry,) = ledger.entries
    assert entry.kind == "flag" and not entry.active and entry.duration is not None and entry.duration >= 0
    assert entry.detail == {"max_seconds": 120.0, "set": True, "expired": False, "cleared": True}
    ledger.save(tmp_path / "ledger.json")
    saved = json.loads((tmp_path / "ledger.json").read_text())
    assert saved[0]["kind"] == "flag" and saved[0]["ended_at"] and saved[0]["duration"] == entry.duration
    assert ledger.of_kind("flag") == [entry] and ledger.of_kind("fl") == []


def test_undo_is_idempotent_and_a_second_start_is_refused_while_active() -> None:
    ledger = Ledger()
    fault = Flag(ledger).start()
    with pytest.raises(FaultError, match="already in place"):
        fault.start()
    fault.stop()
    fault.stop()
    assert len(ledger) == 1 and not fault.on


def test_a_failed_injection_is_recorded_and_leaves_nothing_active() -> None:
    ledger = Ledger()
    with pytest.raises(OSError), Flag(ledger, fail_inject=True):
        pass
    (entry,) = ledger.entries
    assert entry.error == "OSError: cannot" and not entry.active
    assert undo_active() == []


def test_undo_active_undoes_what_a_test_left() -> None:
    fault = Flag(Ledger()).start()
    assert undo_active() == [repr(fault)]
    assert not fault.on


def test_max_seconds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_seconds must be positive"):
        Flag(Ledger(), max_seconds=0)
