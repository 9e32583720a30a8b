"""The local model for real, through the official ``ollama`` client: started as a process, its Ollama
API, a streamed answer, a constrained tool call, and nothing left after teardown. A few short model
calls (a 135M model on one thread answers in seconds)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import ollama
import psutil
import pytest

from support.llm import local_prerequisite
from support.llm_local import (
    CONSTRAIN_OPTION,
    MODEL_NAME,
    LocalModelProcess,
    LocalModelStartError,
    start_local_model,
    unavailable_reason,
)
from support.prereqs import missing_message
from support.processes import RunId, processes_of
from tests.unit.test_llm_local_translation import LIST, SEARCH

SHORT = {"num_predict": 24}


@pytest.fixture(scope="module")
def local_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModelProcess]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(missing_message(local_prerequisite(reason), reason))
    run_id = RunId.for_process(tag="llm-local-unit")
    started = start_local_model(tmp_path_factory.mktemp("llm-local") / "llm-local.log", run_id=run_id)
    yield started
    started.stop()
    assert processes_of(run_id) == [], "the local model left processes behind"


@pytest.fixture
def client(local_model: LocalModelProcess) -> ollama.Client:
    return ollama.Client(host=local_model.url, timeout=120)


def test_it_is_labelled_and_answers_the_ollama_metadata_calls(
    local_model: LocalModelProcess, client: ollama.Client
) -> None:
    labelled = {proc.pid for proc in processes_of(RunId.for_process(tag="llm-local-unit"))}
    assert local_model.proc.pid in labelled
    assert [model.model for model in client.list().models] == [MODEL_NAME]
    shown = client.show(MODEL_NAME)
    assert shown.details is not None and shown.details.format == "gguf"
    assert "tools" in (shown.capabilities or [])
    assert client.chat(model=MODEL_NAME, messages=[]).done_reason == "load"


def test_another_model_is_not_found(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="llama3.2:1b", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 404
    assert "not found" in raised.value.error


def test_an_answer_streams_in_several_chunks(client: ollama.Client) -> None:
    chunks = list(
        client.chat(
            model=MODEL_NAME, messages=[{"role": "user", "content": "Name three colors."}], stream=True, options=SHORT
        )
    )

    texts = [chunk.message.content or "" for chunk in chunks if not chunk.done]
    assert len([text for text in texts if text]) > 1, texts
    assert "".join(texts).strip(), "an empty answer"
    last = chunks[-1]
    assert last.done and last.done_reason in ("stop", "length")
    assert (last.eval_count or 0) > 1 and (last.prompt_eval_count or 0) > 1


def test_a_constrained_request_gets_a_well_formed_tool_call(client: ollama.Client) -> None:
    messages = [
        {"role": "system", "content": "You find documentation. Always call search_docs first."},
        {"role": "user", "content": "release process"},
    ]

    answer = client.chat(
        model=MODEL_NAME, messages=messages, tools=[SEARCH, LIST], options={CONSTRAIN_OPTION: True}, stream=False
    )

    calls = answer.message.tool_calls or []
    assert len(calls) == 1, answer.message
    (call,) = calls
    assert call.function.name in ("search_docs", "list_files")
    if call.function.name == "search_docs":
        assert isinstance(call.function.arguments["query"], str)


def test_a_format_schema_shapes_the_answer(client: ollama.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"color": {"type": "string", "maxLength": 20}},
        "required": ["color"],
        "additionalProperties": False,
    }

    answer = client.chat(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": "What color is the sky? Reply in JSON."}],
        format=schema,
        stream=False,
        options={"num_predict": 32},
    )

    value = json.loads(answer.message.content or "")
    assert set(value) == {"color"} and isinstance(value["color"], str)


def test_a_dead_model_process_fails_the_start_fast(tmp_path: Path) -> None:
    if unavailable_reason() is not None:
        pytest.skip("the local model is not installed (see the other tests' message)")
    with pytest.raises(LocalModelStartError, match="exited with code 2"):
        start_local_model(tmp_path / "bad.log", threads=0, python=_failing_python(tmp_path), timeout=30)


def _failing_python(tmp_path: Path) -> str:
    """A 'python' that exits with code 2 at once (a model process that died during start-up)."""
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho 'cannot load the model' >&2\nexit 2\n")
    script.chmod(0o755)
    return str(script)


def test_nothing_of_the_run_remains_after_stop(tmp_path: Path) -> None:
    if unavailable_reason() is not None:
        pytest.skip("the local model is not installed (see the other tests' message)")
    run_id = RunId.for_process(tag="llm-local-stop")
    started = start_local_model(tmp_path / "llm-local.log", run_id=run_id)
    pid = started.proc.pid

    started.stop()

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert processes_of(run_id) == []
