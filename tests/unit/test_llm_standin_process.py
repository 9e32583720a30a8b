"""The stand-in's control endpoint (``StandinClient``) and the stand-in as a subprocess of a tier."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import ollama
import psutil
import pytest

from support.llm_standin import LLMStandin, StandinClient, StandinControlError, reply, tool_call, tool_loop
from support.llm_standin.process import REPO_ROOT, StandinProcess, StandinStartError, start_standin_process
from support.processes import RunId, label_of
from support.waits import wait_process_gone

MODEL = "llama3.2:1b"


@pytest.fixture
def llm() -> Iterator[LLMStandin]:
    with LLMStandin() as standin:
        yield standin


def test_control_sets_rules_and_reads_requests_like_the_in_process_api(llm: LLMStandin) -> None:
    control = StandinClient(llm.url)
    control.add_rules(tool_call("lookup", {"q": "x"}, times=1), reply("then text"))
    with ollama.Client(host=llm.url, timeout=10) as client:
        first = client.chat(model=MODEL, messages=[{"role": "user", "content": "find x"}])
        second = client.chat(model=MODEL, messages=[{"role": "user", "content": "again"}])
    assert [call.function.name for call in first.message.tool_calls or []] == ["lookup"]
    assert second.message.content == "then text"
    assert [(r["label"], r["remaining"]) for r in control.rules()] == [("rule 0", 0), ("rule 1", None)]
    chats = control.chats()
    assert [(r.last_user_message, r.rule) for r in chats] == [("find x", "rule 0"), ("again", "rule 1")]
    assert control.requests() == llm.requests()  # the control calls themselves are not recorded
    # filtered by the stand-in, the same way in process and over HTTP
    assert [r.last_user_message for r in control.chats(user_contains="gain")] == ["again"]
    assert control.chats(user_contains="gain") == llm.chats(user_contains="gain")
    assert control.requests("/api/tags") == [] and len(control.requests("/api/chat")) == 2
    assert control.chats(user_contains="& ?=") == []  # a filter is sent encoded, not as more query

    control.clear_rules()
    assert llm.rules() == []
    control.reset()
    assert llm.requests() == []


def test_control_refuses_bad_rules_with_the_reason(llm: LLMStandin) -> None:
    with pytest.raises(StandinControlError, match=r"HTTP 400.*unknown field\(s\) colour"):
        StandinClient(llm.url)._call("POST", "rules", [{"match": {"colour": "red"}}])


def test_control_of_a_stand_in_that_is_not_there_says_so() -> None:
    llm = LLMStandin().start()
    llm.stop()
    with pytest.raises(StandinControlError, match="/_standin/requests"):
        StandinClient(llm.url, timeout=2).requests()


@pytest.fixture(scope="module")
def standin_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandinProcess]:
    log = tmp_path_factory.mktemp("standin") / "llm-standin.log"
    rules = [tool_loop("get_weather", {"city": "Oslo"}, user_contains="weather")]
    with start_standin_process(log, models=["tiny:1b"], rules=rules, run_id=RunId.for_process(tag="llm")) as started:
        yield started


def test_process_serves_the_api_with_its_models_and_start_rules(standin_process: StandinProcess) -> None:
    with ollama.Client(host=standin_process.url, timeout=10) as client:
        assert [model.model for model in client.list().models] == ["tiny:1b"]
        answer = client.chat(model="tiny:1b", messages=[{"role": "user", "content": "weather?"}])
    assert [call.function.arguments for call in answer.message.tool_calls or []] == [{"city": "Oslo"}]
    assert standin_process.control.chats()[-1].rule == "rule 0"


def test_process_is_labelled_and_logs_each_request(standin_process: StandinProcess) -> None:
    assert label_of(psutil.Process(standin_process.proc.pid)) == RunId.for_process(tag="llm")
    standin_process.control.version()
    assert "GET /api/version 200" in standin_process.log_path.read_text()


def test_a_quiet_process_prints_no_line_per_request(tmp_path: Path) -> None:
    with start_standin_process(tmp_path / "standin.log", extra_args=["--quiet"]) as started:
        for _ in range(3):
            started.control.version()
        logged = started.log_path.read_text()
    assert "GET /api/version" not in logged, logged


def test_process_that_cannot_start_fails_fast_with_its_output(tmp_path: Path) -> None:
    bad_rules = tmp_path / "bad.json"
    bad_rules.write_text("[{")
    log = tmp_path / "standin.log"
    with pytest.raises(StandinStartError, match=r"exited with code 2(.|\n)*cannot read rules"):
        start_standin_process(log, rules=(), timeout=10, python=sys.executable, extra_args=["--rules", str(bad_rules)])


def test_process_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with start_standin_process(tmp_path / "standin.log") as started:
        started.proc.send_signal(signal.SIGTERM)
        assert started.proc.wait(10) == 0
    assert started.tail().splitlines()[-1] == "stopped"


def test_teardown_kills_the_process(tmp_path: Path) -> None:
    started = start_standin_process(tmp_path / "standin.log")
    started.stop()
    wait_process_gone(started.proc.pid, timeout=10)
    started.stop()


def test_help_explains_how_to_run_it() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "support.llm_standin", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=REPO_ROOT,
    )
    assert "OLLAMA_HOST" in shown.stdout and "--rules" in shown.stdout and "listening on" in shown.stdout


def test_rules_file_format_in_help_is_valid() -> None:
    from support.llm_standin.__main__ import EPILOG
    from support.llm_standin.rules import rules_from_json

    example = EPILOG.split('times": null means always):', 1)[1].split("respond kinds:")[0]
    assert len(rules_from_json(json.loads(example))) == 2
