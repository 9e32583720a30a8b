"""The LLM stand-in through the real ``ollama`` client: the API the agent-runner uses, rules, errors,
latency and recording."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import ollama
import pytest

from support.llm_standin import BrokenStream, LLMStandin, Reply, Rule, error, reply, tool_call, tool_loop
from support.llm_standin.rules import Match, ToolCall, ToolCalls
from support.waits import eventually

MODEL = "llama3.2:1b"
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def llm() -> Iterator[LLMStandin]:
    with LLMStandin() as standin:
        yield standin


@pytest.fixture
def client(llm: LLMStandin) -> Iterator[ollama.Client]:
    with ollama.Client(host=llm.url, timeout=10) as opened:
        yield opened


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def streamed(client: ollama.Client, **kwargs: Any) -> list[ollama.ChatResponse]:
    return list(client.chat(model=kwargs.pop("model", MODEL), stream=True, **kwargs))


# -- models


def test_lists_the_models_it_has(client: ollama.Client) -> None:
    listed = client.list()
    assert [model.model for model in listed.models] == ["llama3.2:1b", "qwen2.5:0.5b"]
    assert listed.models[0].details is not None and listed.models[0].details.format == "gguf"


def test_models_are_configurable_and_tags_default_to_latest() -> None:
    with LLMStandin(models=["tiny", "tiny"]) as llm, ollama.Client(host=llm.url) as client:
        assert [model.model for model in client.list().models] == ["tiny:latest"]
        assert client.chat(model="tiny", messages=user("hi")).message.content == "Stand-in reply to: hi"


def test_shows_a_model_it_has_with_the_tools_capability(client: ollama.Client) -> None:
    shown = client.show(MODEL)
    assert shown.capabilities == ["completion", "tools"]
    assert shown.modelinfo


def test_show_of_an_unknown_model_is_404_as_ollama_words_it(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.show("mistral:7b")
    assert (caught.value.status_code, caught.value.error) == (404, "model 'mistral:7b' not found")


def test_version_and_root_answer_like_ollama(llm: LLMStandin, client: ollama.Client) -> None:
    raw = client._client  # the client has no version() call; the runner's readiness check uses these
    assert raw.get("/api/version").json()["version"]
    assert raw.get("/").text == "Ollama is running"


# -- chat


def test_default_reply_non_streaming(client: ollama.Client) -> None:
    response = client.chat(model=MODEL, messages=user("What is 2+2?"), options={"temperature": 0})
    assert response.message.role == "assistant"
    assert response.message.content == "Stand-in reply to: What is 2+2?"
    assert response.done and response.done_reason == "stop"
    assert response.eval_count and response.total_duration and response.prompt_eval_count


def test_default_reply_streams_word_by_word_then_a_done_chunk(client: ollama.Client) -> None:
    parts = streamed(client, messages=user("hello there"))
    assert [part.message.content for part in parts] == ["Stand-in ", "reply ", "to: ", "hello ", "there", ""]
    assert [part.done for part in parts] == [False] * 5 + [True]
    assert parts[-1].done_reason == "stop" and parts[-1].eval_count == 5


def test_reply_split_into_n_chunks(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(reply("abcdefghij", chunks=3))
    parts = streamed(client, messages=user("x"))
    assert [part.message.content for part in parts[:-1]] == ["abcd", "efg", "hij"]


def test_same_rules_and_requests_give_the_same_replies(client: ollama.Client) -> None:
    def content(parts: list[ollama.ChatResponse]) -> list[tuple[str | None, int | None]]:
        return [(part.message.content, part.total_duration) for part in parts]

    first = content(streamed(client, messages=user("same")))
    assert content(streamed(client, messages=user("same"))) == first


def test_chat_with_an_unknown_model_is_404_as_ollama_words_it(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="llama3.2:3b", messages=user("hi"))
    assert caught.value.status_code == 404
    assert caught.value.error == 'model "llama3.2:3b" not found, try pulling it first'
    with pytest.raises(ollama.ResponseError, match="try pulling it first"):
        streamed(client, model="llama3.2:3b", messages=user("hi"))


def test_chat_without_messages_only_loads_the_model(client: ollama.Client) -> None:
    response = client.chat(model=MODEL, messages=[])
    assert (response.done, response.done_reason, response.message.content) == (True, "load", "")


# -- tool calls


def test_tool_call_non_streaming(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(tool_call("get_weather", {"city": "Paris", "days": 2}, tool_offered="get_weather"))
    response = client.chat(model=MODEL, messages=user("weather?"), tools=[WEATHER_TOOL])
    calls = response.message.tool_calls or []
    assert [(call.function.name, dict(call.function.arguments)) for call in calls] == [
        ("get_weather", {"city": "Paris", "days": 2})
    ]


def test_several_tool_calls_stream_in_one_chunk_after_the_text(llm: LLMStandin, client: ollama.Client) -> None:
    calls = (ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Oslo"}))
    llm.add_rules(Rule(respond=ToolCalls(calls, text="Checking both.")))
    parts = streamed(client, messages=user("compare"), tools=[WEATHER_TOOL])
    assert "".join(part.message.content or "" for part in parts) == "Checking both."
    with_calls = [part for part in parts if part.message.tool_calls]
    assert len(with_calls) == 1 and not with_calls[0].done
    assert [call.function.arguments["city"] for call in with_calls[0].message.tool_calls or []] == ["Paris", "Oslo"]
    assert parts[-1].done


def test_tool_loop_calls_the_tool_then_replies_with_its_result(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(tool_loop("get_weather", {"city": "Paris"}, then="It is {result} in Paris.", user_contains="weather"))
    messages: list[Any] = user("What is the weather in Paris?")
    first = client.chat(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    call = (first.message.tool_calls or [])[0]
    assert call.function.name == "get_weather"

    messages += [first.message, {"role": "tool", "content": "sunny, 21°C", "tool_name": call.function.name}]
    parts = streamed(client, messages=messages, tools=[WEATHER_TOOL])
    assert "".join(part.message.content or "" for part in parts) == "It is sunny, 21°C in Paris."
    assert not any(part.message.tool_calls for part in parts)


def test_tool_results_without_tool_name_are_told_by_the_preceding_call(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(tool_loop("get_weather", {"city": "Paris"}))
    assistant = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {}}}],
    }
    messages = [*user("weather"), assistant, {"role": "tool", "content": "rain"}]
    assert client.chat(model=MODEL, messages=messages).message.content == "Tool get_weather returned: rain"


def test_a_once_tool_loop_drives_exactly_one_loop(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(tool_loop("get_weather", {"city": "Paris"}, times=1))
    first = client.chat(model=MODEL, messages=user("weather"), tools=[WEATHER_TOOL])
    assert first.message.tool_calls
    messages = [*user("weather"), first.message, {"role": "tool", "content": "fog", "tool_name": "get_weather"}]
    assert client.chat(model=MODEL, messages=messages).message.content == "Tool get_weather returned: fog"
    again = client.chat(model=MODEL, messages=user("weather"), tools=[WEATHER_TOOL])
    assert not again.message.tool_calls and again.message.content == "Stand-in reply to: weather"


def test_default_reply_after_a_tool_result_quotes_it(client: ollama.Client) -> None:
    messages = [*user("go"), {"role": "tool", "content": "42", "tool_name": "answer"}]
    assert client.chat(model=MODEL, messages=messages).message.content == "Stand-in reply after tool answer: 42"


def test_async_client_streams_tool_calls_too(llm: LLMStandin) -> None:
    llm.add_rules(tool_call("get_weather", {"city": "Rome"}))

    async def ask() -> list[ollama.ChatResponse]:
        client = ollama.AsyncClient(host=llm.url, timeout=10)
        stream = await client.chat(model=MODEL, messages=user("w"), tools=[WEATHER_TOOL], stream=True)
        return [part async for part in stream]

    parts = asyncio.run(ask())
    calls = [call for part in parts for call in part.message.tool_calls or []]
    assert [(call.function.name, dict(call.function.arguments)) for call in calls] == [
        ("get_weather", {"city": "Rome"})
    ]
    assert parts[-1].done


# -- matching


def test_first_matching_rule_wins(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(reply("first", user_contains="hello"), reply("second", user_contains="hello"))
    assert client.chat(model=MODEL, messages=user("hello")).message.content == "first"


def test_once_rules_are_used_up_and_always_rules_stay(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(reply("once", times=1), reply("twice", times=2), reply("always"))
    answers = [client.chat(model=MODEL, messages=user("x")).message.content for _ in range(5)]
    assert answers == ["once", "twice", "twice", "always", "always"]
    assert [(rule["label"], rule["remaining"]) for rule in llm.rules()] == [
        ("rule 0", 0),
        ("rule 1", 0),
        ("rule 2", None),
    ]


@pytest.mark.parametrize(
    ("match", "kwargs", "matched"),
    [
        (Match(model="qwen2.5:0.5b"), {"model": "qwen2.5:0.5b"}, True),
        (Match(model="qwen2.5:0.5b"), {}, False),
        (Match(user_regex=r"^order \d+$"), {"messages": user("order 66")}, True),
        (Match(user_regex=r"^order \d+$"), {"messages": user("order sixty")}, False),
        (Match(system_contains="pirate"), {"messages": [{"role": "system", "content": "Talk like a pirate"}]}, True),
        (Match(system_regex="(?i)PIRATE"), {"messages": [{"role": "system", "content": "a pirate"}]}, True),
        (Match(system_contains="pirate"), {}, False),
        (Match(tools_offered=True), {"tools": [WEATHER_TOOL]}, True),
        (Match(tools_offered=True), {}, False),
        (Match(tools_offered=False), {}, True),
        (Match(tool_offered="get_weather"), {"tools": [WEATHER_TOOL]}, True),
        (Match(tool_offered="send_mail"), {"tools": [WEATHER_TOOL]}, False),
        (Match(after_tool=True), {"messages": [*user("q"), {"role": "tool", "content": "r", "tool_name": "t"}]}, True),
        (Match(after_tool="t"), {"messages": [*user("q"), {"role": "tool", "content": "r", "tool_name": "t"}]}, True),
        (Match(after_tool="u"), {"messages": [*user("q"), {"role": "tool", "content": "r", "tool_name": "t"}]}, False),
        (Match(after_tool=False), {}, True),
    ],
)
def test_match_conditions(
    llm: LLMStandin, client: ollama.Client, match: Match, kwargs: dict[str, Any], matched: bool
) -> None:
    llm.add_rules(Rule(match=match, respond=Reply("matched")))
    kwargs = {"model": MODEL, "messages": user("hi"), **kwargs}
    if not any(m.get("role") == "user" for m in kwargs["messages"]):
        kwargs["messages"] = [*kwargs["messages"], *user("hi")]
    assert (client.chat(**kwargs).message.content == "matched") is matched


def test_reply_placeholders(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(reply("{model} heard {user!r} under {system}; {literal} stays"))
    messages = [{"role": "system", "content": "rules"}, *user("hi")]
    content = client.chat(model=MODEL, messages=messages).message.content
    assert content == "llama3.2:1b heard {user!r} under rules; {literal} stays"


# -- errors and latency


def test_error_rule_answers_the_status_and_message(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(error(500, "llama runner process has terminated", times=1))
    with pytest.raises(ollama.ResponseError) as caught:
        streamed(client, messages=user("x"))
    assert (caught.value.status_code, caught.value.error) == (500, "llama runner process has terminated")
    assert client.chat(model=MODEL, messages=user("x")).message.content == "Stand-in reply to: x"


def test_broken_stream_sends_some_words_then_ollamas_error_line(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(Rule(respond=BrokenStream("one two three", after=2, message="runner died")))
    received = []
    with pytest.raises(ollama.ResponseError, match="runner died"):
        for part in client.chat(model=MODEL, messages=user("x"), stream=True):
            received.append(part.message.content)
    assert received == ["one ", "two "]
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model=MODEL, messages=user("x"))
    assert (caught.value.status_code, caught.value.error) == (500, "runner died")


def test_latency_delays_the_answer_and_spaces_the_chunks(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(Rule(respond=Reply("a b c"), delay=0.2, chunk_delay=0.1))
    started = time.monotonic()
    arrivals, parts = [], []
    for part in client.chat(model=MODEL, messages=user("x"), stream=True):
        arrivals.append(time.monotonic() - started)
        parts.append(part)
    assert arrivals[0] >= 0.2
    # the stand-in spaces chunk 0 and chunk 2 by 0.2 s; the client may see chunk 0 a few ms late
    assert arrivals[2] - arrivals[0] >= 0.15
    assert (parts[-1].total_duration or 0) >= 400_000_000


def test_a_slow_answer_does_not_hold_up_others(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(reply("slow", user_contains="slow", delay=30))
    answered = threading.Event()

    def ask_slowly() -> None:
        with contextlib.suppress(Exception):  # cut off when the stand-in stops
            client.chat(model=MODEL, messages=user("slow"))
        answered.set()

    threading.Thread(target=ask_slowly, daemon=True).start()

    def slow_one_recorded() -> None:
        assert [r.rule for r in llm.chats()] == ["rule 0"], "the slow request has not arrived"

    eventually(slow_one_recorded, timeout=10)  # recorded while it waits out its latency
    with ollama.Client(host=llm.url, timeout=10) as other:
        assert other.chat(model=MODEL, messages=user("fast")).message.content == "Stand-in reply to: fast"
    assert not answered.is_set()
    llm.stop()  # stopping cuts the pending latency short
    assert answered.wait(5)


# -- recording


def test_records_every_request_in_order_with_body_headers_and_rule(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(reply("named", name="greeting", user_contains="hello"))
    client.list()
    client.chat(model=MODEL, messages=user("hello"), options={"temperature": 0}, keep_alive="5m")
    with pytest.raises(ollama.ResponseError):
        client.show("nope")
    recorded = llm.requests()
    assert [(r.seq, r.method, r.path, r.status) for r in recorded] == [
        (0, "GET", "/api/tags", 200),
        (1, "POST", "/api/chat", 200),
        (2, "POST", "/api/show", 404),
    ]
    chat = llm.chats()[0]
    assert chat.rule == "greeting"
    assert chat.last_user_message == "hello"
    assert chat.body["options"] == {"temperature": 0} and chat.body["keep_alive"] == "5m"
    assert chat.headers["user-agent"].startswith("ollama-python/")
    assert recorded[0].time <= chat.time <= recorded[2].time


def test_reset_drops_rules_and_requests(llm: LLMStandin, client: ollama.Client) -> None:
    llm.add_rules(reply("ruled"))
    client.chat(model=MODEL, messages=user("x"))
    llm.reset()
    assert llm.requests() == [] and llm.rules() == []
    assert client.chat(model=MODEL, messages=user("x")).message.content == "Stand-in reply to: x"


def test_stop_is_idempotent_and_closes_the_port() -> None:
    llm = LLMStandin().start()
    url = llm.url
    llm.stop()
    llm.stop()
    with ollama.Client(host=url, timeout=2) as client, pytest.raises(ConnectionError):
        client.list()


def test_a_probe_tells_the_stand_in_from_a_real_ollama(llm: LLMStandin) -> None:
    from support.llm import auto_llm_prerequisite, probe_ollama

    probe = probe_ollama(llm.url, "llama3.2:1b")
    assert probe.standin and probe.reachable and not probe.usable
    assert probe.detail == f"the LLM stand-in (support.llm_standin) answers at {llm.url}, not Ollama"
    passed, detail = auto_llm_prerequisite({"OLLAMA_HOST": llm.url}).check(None)  # type: ignore[arg-type]
    assert passed and "LLM stand-in" in detail and "has llama3.2:1b" not in detail, detail
