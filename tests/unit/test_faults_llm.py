"""LLM faults through the stand-in's real HTTP API, seen by the ``ollama`` client the agent-runner uses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pydantic
import pytest

from support.faults.ledger import Ledger
from support.faults.llm import KINDS, LlmFault, cut_stream, hang, http_500
from support.llm_standin import LLMStandin, StandinClient, reply
from support.waits import eventually, wait_until

MODEL = "llama3.2:1b"


@pytest.fixture
def llm() -> Iterator[LLMStandin]:
    with LLMStandin() as standin:
        yield standin


@pytest.fixture
def control(llm: LLMStandin) -> StandinClient:
    """The stand-in's control endpoint over HTTP, as a tier drives a stand-in process."""
    return StandinClient(llm.url)


@pytest.fixture
def client(llm: LLMStandin) -> Iterator[ollama.Client]:
    with ollama.Client(host=llm.url, timeout=10) as opened:
        yield opened


def chat(client: ollama.Client, text: str = "hello", **kwargs: Any) -> Any:
    return client.chat(model=MODEL, messages=[{"role": "user", "content": text}], **kwargs)


def test_http_500_fails_the_first_chats_then_the_usual_rules_answer(
    llm: LLMStandin, control: StandinClient, client: ollama.Client
) -> None:
    llm.add_rules(reply("usual answer"))
    ledger = Ledger()
    with LlmFault(control, "http_500", times=2, ledger=ledger):
        for _ in range(2):
            with pytest.raises(ollama.ResponseError) as caught:
                chat(client)
            assert caught.value.status_code == 500
            assert "llama runner process has terminated" in caught.value.error
        assert chat(client).message.content == "usual answer"
    assert [r["label"] for r in control.rules()] == ["rule 0"], "the fault rule is removed on exit"
    (entry,) = ledger.entries
    assert entry.kind == "llm.http_500" and not entry.active
    assert entry.detail["used"] == 2 and entry.detail["times"] == 2


def test_http_429_says_too_many_requests(control: StandinClient, client: ollama.Client) -> None:
    with LlmFault(control, "http_429", times=1, ledger=Ledger()):
        with pytest.raises(ollama.ResponseError) as caught:
            chat(client)
        assert caught.value.status_code == 429
        assert chat(client).message.content == "Stand-in reply to: hello"


def test_slow_tokens_delay_every_chunk(control: StandinClient, client: ollama.Client) -> None:
    with LlmFault(control, "slow_tokens", chunk_delay=0.2, text="one two three", ledger=Ledger()):
        started = time.monotonic()
        chunks = [part.message.content for part in chat(client, stream=True)]
        took = time.monotonic() - started
    assert "".join(chunks) == "one two three"
    assert took >= 0.4, f"three chunks with 0.2 s between them took only {took:.3f} s"


def test_hang_holds_the_request_until_the_fault_ends(llm: LLMStandin, control: StandinClient) -> None:
    outcome: list[BaseException | ollama.ChatResponse] = []

    def call() -> None:
        try:
            with ollama.Client(host=llm.url, timeout=30) as slow_client:
                outcome.append(chat(slow_client))
        except BaseException as exc:  # the outcome is the assertion's subject
            outcome.append(exc)

    fault = LlmFault(control, "hang", ledger=Ledger()).start()
    caller = threading.Thread(target=call, daemon=True)
    try:
        caller.start()
        wait_until(lambda: len(llm.chats()) == 1, "the chat never reached the stand-in", timeout=10)
        assert llm.chats()[0].status == 0
        assert caller.is_alive() and not outcome, f"a hung chat was answered: {outcome}"
    finally:
        fault.stop()
    caller.join(10)
    assert not caller.is_alive(), "the hung chat did not end when the fault was removed"
    assert len(outcome) == 1 and isinstance(outcome[0], Exception), f"expected a connection error, got {outcome}"
    assert fault.entry is not None and fault.entry.detail["released"] == 1


def test_a_bounded_hang_ends_by_itself(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(hang(0.3))
    with pytest.raises((httpx.HTTPError, ollama.ResponseError)):
        chat(client)


def test_cut_stream_ends_the_connection_mid_message(control: StandinClient, client: ollama.Client) -> None:
    received: list[str] = []
    with LlmFault(control, "cut_stream", text="one two three four", after=2, ledger=Ledger()):
        with pytest.raises(httpx.HTTPError):
            for part in chat(client, stream=True):
                received.append(part.message.content)
        assert received == ["one ", "two "]
        assert chat(client).message.content == "Stand-in reply to: hello", "times=1: the next chat is answered"


def test_cut_stream_without_streaming_closes_without_an_answer(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(cut_stream(times=1))
    with pytest.raises(httpx.HTTPError):
        chat(client)


def test_malformed_tool_call_arguments_are_not_an_object(llm: LLMStandin, control: StandinClient) -> None:
    with LlmFault(control, "malformed_tool_call", tool="get_weather", ledger=Ledger()):
        raw = httpx.post(
            f"{llm.url}/api/chat",
            json={"model": MODEL, "messages": [{"role": "user", "content": "weather?"}], "stream": False},
            timeout=10,
        ).json()
        assert raw["message"]["tool_calls"][0]["function"] == {
            "index": 0,
            "name": "get_weather",
            "arguments": '{"city": "Par',
        }
    with (
        LlmFault(control, "malformed_tool_call", tool="get_weather", ledger=Ledger()),
        ollama.Client(host=llm.url, timeout=10) as client,
        pytest.raises(pydantic.ValidationError),
    ):
        chat(client)


def test_unknown_tool_call_names_a_tool_nobody_offered(control: StandinClient, client: ollama.Client) -> None:
    with LlmFault(control, "unknown_tool_call", tool="no_such_tool", ledger=Ledger()):
        calls = chat(client).message.tool_calls or []
    assert [call.function.name for call in calls] == ["no_such_tool"]


def test_a_fault_goes_before_permanent_rules_and_matches_its_conditions(
    llm: LLMStandin, control: StandinClient, client: ollama.Client
) -> None:
    llm.add_rules(reply("permanent"))
    with LlmFault(control, "http_500", times=None, user_contains="boom", ledger=Ledger()):
        assert chat(client, "calm").message.content == "permanent"
        for _ in range(3):
            with pytest.raises(ollama.ResponseError):
                chat(client, "boom")
    assert chat(client, "boom").message.content == "permanent"


def test_the_fault_is_removed_when_its_bound_expires(llm: LLMStandin, client: ollama.Client) -> None:
    ledger = Ledger()
    fault = LlmFault(llm, "http_500", times=None, max_seconds=0.3, ledger=ledger).start()
    with pytest.raises(ollama.ResponseError):
        chat(client)
    eventually(lambda: _assert(not fault.active, "the fault outlived its bound"), timeout=10)
    assert chat(client).message.content == "Stand-in reply to: hello"
    assert ledger.entries[0].detail["expired"] is True


def test_the_fault_is_removed_when_the_body_fails(llm: LLMStandin, client: ollama.Client) -> None:
    with pytest.raises(RuntimeError), LlmFault(llm, "http_500", times=None, ledger=Ledger()):
        raise RuntimeError("the test failed")
    assert llm.rules() == []
    assert chat(client).message.content == "Stand-in reply to: hello"


def test_every_kind_builds_a_rule_the_control_endpoint_accepts(llm: LLMStandin, control: StandinClient) -> None:
    params: dict[str, dict[str, Any]] = {"malformed_tool_call": {"tool": "get_weather"}}
    for kind in KINDS:
        with LlmFault(control, kind, times=1, ledger=Ledger(), **params.get(kind, {})):
            labels = [str(r["label"]) for r in llm.rules()]
            assert len(labels) == 1 and labels[0].startswith(f"fault:{kind}:"), labels
    assert llm.rules() == []
    assert http_500(times=3).times == 3


def _assert(condition: bool, message: str) -> None:
    assert condition, message
