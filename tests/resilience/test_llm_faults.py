"""Scenario 8: LLM faults through the stand-in (HTTP 500 and 429, slow tokens, a hang, a stream cut
mid-message, a malformed tool call) on the first chats of the workload: each execution ends within
its configured timeout, COMPLETED after a retry or FAILED with an error a user can act on."""

from __future__ import annotations

from typing import Any

import pytest

from support.faults.llm import LlmFault
from support.waits import wait_until
from tests.resilience.harness import Scenario

FAULTY_CHATS = 3
AGENT_TIMEOUT = 60
HANG_SECONDS = 15.0
FAULTS: dict[str, dict[str, Any]] = {
    "http_500": {},
    "http_429": {},
    "slow_tokens": {"chunk_delay": 1.0},
    "hang": {},
    "cut_stream": {},
    "malformed_tool_call": {"tool": "write_file"},
}


@pytest.mark.parametrize("mode", ["control", *FAULTS])
def test_llm_fault(scenario: Scenario, mode: str) -> None:
    scenario.workload.agent_timeout = AGENT_TIMEOUT
    # a hang lasts until the fault's bound ends it (hung chats are then released); the others until used up
    bound = HANG_SECONDS if mode == "hang" else 120.0
    standin = scenario.workload.standin
    options = {"times": FAULTY_CHATS, "ledger": scenario.ledger, "max_seconds": bound}
    fault = LlmFault(standin, mode, **options, **FAULTS[mode]) if mode in FAULTS else None

    def in_place() -> None:
        if fault is None:
            return
        fault.start()  # before the first chat: the workload's first chats meet it

    def heal() -> None:
        assert fault is not None
        try:
            wait_until(lambda: fault.used() == FAULTY_CHATS, f"{mode} met fewer chats than {FAULTY_CHATS}", timeout=90)
            if mode == "hang":
                wait_until(lambda: not fault.active, "the hang outlived its bound", timeout=HANG_SECONDS + 60)
        finally:
            fault.stop()
        scenario.notes["faulty_chats"] = FAULTY_CHATS

    scenario.run(heal if fault else None, when=in_place)

    scenario.assert_clean(all_completed=fault is None)
    assert scenario.report is not None
    for finding in scenario.report.of("failed"):
        assert finding.reason and "Traceback" not in finding.reason, finding
