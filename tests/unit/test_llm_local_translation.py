"""The local model's front, without the model: Ollama requests into llama.cpp's, its stream into Ollama's
chunks, and constrained replies into ``tool_calls``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.llm_local import constrained
from support.llm_local.reply import LlamaError, Translation, sse_events, whole
from support.llm_local.request import CONSTRAIN_OPTION, MODEL_DEFAULTS, RequestError, plan

SEARCH = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search the documentation.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}
LIST = {
    "type": "function",
    "function": {
        "name": "list_files",
        "description": "List files.",
        "parameters": {"type": "object", "properties": {"paths": {"type": "array", "items": {"type": "string"}}}},
    },
}
ASK = [{"role": "system", "content": "You find docs."}, {"role": "user", "content": "release process"}]


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "smollm2:135m", "messages": ASK, **fields}


def text_event(piece: str, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}], **extra}


def translate(events: list[dict[str, Any]], constrained_reply: bool) -> list[dict[str, Any]]:
    translation = Translation("smollm2:135m", constrained_reply)
    chunks = [chunk for event in events for chunk in translation.event(event)]
    return chunks + translation.finish()


def pieces(json_text: str, size: int) -> list[dict[str, Any]]:
    return [text_event(json_text[i : i + size]) for i in range(0, len(json_text), size)]


# -- Ollama request -> llama.cpp request


def test_options_map_onto_llama_sampling_over_the_model_defaults() -> None:
    body = plan(chat(options={"temperature": 0.7, "num_predict": 12, "top_k": 5, "stop": ["\n"]})).body

    assert body["temperature"] == 0.7 and body["top_k"] == 5 and body["stop"] == ["\n"]
    assert body["max_tokens"] == 12
    assert body["seed"] == MODEL_DEFAULTS["seed"]  # what the request left out
    assert body["stream"] is True and body["messages"] == ASK
    assert "num_predict" not in body and "response_format" not in body


def test_an_unlimited_num_predict_sets_no_token_limit() -> None:
    assert "max_tokens" not in plan(chat(options={"num_predict": -1})).body


def test_format_json_and_a_json_schema_constrain_the_output() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}

    assert plan(chat(format="json")).body["response_format"] == {"type": "json_object"}
    fmt = plan(chat(format=schema)).body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == schema
    with pytest.raises(RequestError, match="invalid format"):
        plan(chat(format="yaml"))


def test_tools_pass_through_to_llama_cpp_unless_constrained() -> None:
    free = plan(chat(tools=[SEARCH]))

    assert not free.constrained
    assert free.body["tools"] == [SEARCH]
    assert free.body["messages"] == ASK


def test_the_server_flag_constrains_tool_calls_to_a_schema_of_the_tools() -> None:
    held = plan(chat(tools=[SEARCH, LIST]), constrain_tools=True)

    assert held.constrained and "tools" not in held.body
    schema = held.body["response_format"]["json_schema"]["schema"]
    calls, answer = schema["anyOf"][:-1], schema["anyOf"][-1]
    assert [call["properties"]["tool"] for call in calls] == [{"const": "search_docs"}, {"const": "list_files"}]
    query = calls[0]["properties"]["arguments"]["properties"]["query"]
    assert query == {"type": "string", "maxLength": constrained.MAX_STRING}
    paths = calls[1]["properties"]["arguments"]["properties"]["paths"]
    assert paths["maxItems"] == constrained.MAX_ITEMS and paths["items"]["maxLength"] == constrained.MAX_STRING
    assert answer["properties"] == {"answer": {"type": "string"}}
    system = held.body["messages"][0]["content"]
    assert system.startswith("You find docs.\n\n## Tools\n")
    assert "- search_docs: Search the documentation. Arguments: query (string, required)" in system


def test_the_request_option_wins_over_the_server_flag() -> None:
    assert plan(chat(tools=[SEARCH], options={CONSTRAIN_OPTION: True})).constrained
    assert not plan(chat(tools=[SEARCH], options={CONSTRAIN_OPTION: False}), constrain_tools=True).constrained
    assert not plan(chat(options={CONSTRAIN_OPTION: True})).constrained  # nothing to constrain without tools
    with pytest.raises(RequestError, match=CONSTRAIN_OPTION):
        plan(chat(tools=[SEARCH], options={CONSTRAIN_OPTION: "yes"}))


def test_after_a_tool_result_a_constrained_turn_can_only_answer() -> None:
    call = {"function": {"name": "search_docs", "arguments": {"query": "release"}}}
    history = [
        *ASK,
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "[1 doc]", "tool_name": "search_docs"},
    ]

    held = plan({"model": "smollm2:135m", "messages": history, "tools": [SEARCH]}, constrain_tools=True)

    schema = held.body["response_format"]["json_schema"]["schema"]
    assert schema == constrained.answer_schema(), "a tool call was still offered after the tool result"
    written = held.body["messages"][2:]
    assert written == [
        {"role": "assistant", "content": '{"tool":"search_docs","arguments":{"query":"release"}}'},
        {"role": "tool", "content": "search_docs returned: [1 doc]"},
    ]
    next_question = {"model": "smollm2:135m", "messages": [*history, {"role": "user", "content": "more"}]}
    again = plan({**next_question, "tools": [SEARCH]}, constrain_tools=True)
    assert "anyOf" in again.body["response_format"]["json_schema"]["schema"], "a new question may call tools again"


def test_a_format_schema_becomes_the_answer_of_a_constrained_reply() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}

    held = plan(chat(tools=[SEARCH], format=schema), constrain_tools=True)

    answer = held.body["response_format"]["json_schema"]["schema"]["anyOf"][-1]
    assert answer["properties"]["answer"] == schema


# -- llama.cpp's stream -> Ollama chunks


def test_text_streams_one_chunk_per_piece_then_a_final_chunk_with_the_counters() -> None:
    timings = {"prompt_n": 30, "prompt_ms": 120.5, "predicted_n": 3, "predicted_ms": 90.0}
    events = [text_event("Hello"), text_event(" there"), text_event("!", "stop", timings=timings)]

    chunks = translate(events, constrained_reply=False)

    assert [c["message"]["content"] for c in chunks] == ["Hello", " there", "!", ""]
    assert [c["done"] for c in chunks] == [False, False, False, True]
    last = chunks[-1]
    assert (last["done_reason"], last["prompt_eval_count"], last["eval_count"]) == ("stop", 30, 3)
    assert (last["prompt_eval_duration"], last["eval_duration"]) == (120_500_000, 90_000_000)
    assert whole(chunks)["message"] == {"role": "assistant", "content": "Hello there!"}


def test_a_constrained_answer_streams_its_text_as_the_json_arrives() -> None:
    reply = json.dumps({"answer": 'Tag, build and "publish" — done.\nBye'}, ensure_ascii=True)

    chunks = translate(pieces(reply, 4), constrained_reply=True)

    texts = [c["message"]["content"] for c in chunks if not c["done"]]
    assert len(texts) > 3, texts
    assert "".join(texts) == 'Tag, build and "publish" — done.\nBye'
    assert all("tool_calls" not in c["message"] for c in chunks)


def test_a_constrained_tool_call_becomes_ollama_tool_calls() -> None:
    reply = '{\n  "tool": "search_docs",\n  "arguments": {"query": "release"}\n}'

    chunks = translate([*pieces(reply, 5), text_event("", "stop")], constrained_reply=True)

    assert [c["message"]["content"] for c in chunks] == ["", ""]
    assert chunks[0]["message"]["tool_calls"] == [
        {"function": {"index": 0, "name": "search_docs", "arguments": {"query": "release"}}}
    ]
    assert whole(chunks)["message"]["tool_calls"][0]["function"]["name"] == "search_docs"


def test_a_constrained_reply_cut_by_the_token_limit_keeps_the_answer_so_far() -> None:
    events = [*pieces('{"answer": "Tag, build and pub', 6), text_event("", "length")]

    chunks = translate(events, constrained_reply=True)

    assert whole(chunks)["message"]["content"] == "Tag, build and pub"
    assert chunks[-1]["done_reason"] == "length"


def test_unconstrained_tool_calls_from_llama_cpp_are_put_together() -> None:
    def call_piece(**function: str) -> dict[str, Any]:
        return {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": function}]}}]}

    events = [call_piece(name="search_docs", arguments='{"que'), call_piece(arguments='ry": "x"}')]

    chunks = translate(events, constrained_reply=False)

    assert chunks[0]["message"]["tool_calls"] == [
        {"function": {"index": 0, "name": "search_docs", "arguments": {"query": "x"}}}
    ]


def test_server_sent_events_end_at_done_and_an_error_event_raises() -> None:
    lines = ['data: {"choices": []}', "", ": ping", "data: [DONE]", 'data: {"never": 1}']
    assert list(sse_events(lines)) == [{"choices": []}]
    with pytest.raises(LlamaError, match="context is full"):
        list(sse_events(['data: {"error": {"message": "context is full"}}']))


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ('{"answer": "a\\', "a"),  # a backslash waits for its escape
        ('{"answer": "a\\u00', "a"),  # a \\u escape waits for its 4 digits
        ('{"answer": "a\\u00e9b', "aéb"),
        ('{"answer": "smile \\ud83d', "smile "),  # half of a surrogate pair waits for the other half
        ('{"answer": "smile \\ud83d\\ude00!"}', "smile 😀!"),
        ('{"tool": "x", "arguments": {}}', ""),
    ],
)
def test_answer_text_decodes_only_complete_escapes(raw: str, text: str) -> None:
    answer = constrained.AnswerText()
    answer.feed(raw)
    assert answer.text == text


def test_read_reply_refuses_what_is_not_a_reply() -> None:
    assert constrained.read_reply('{"answer": "x"}') == constrained.Reply(text="x")
    assert constrained.read_reply('{"answer": "x') is None
    assert constrained.read_reply('{"other": 1}') is None
    assert constrained.read_reply("[]") is None
