"""The stand-in's rule model on its own: JSON round trips, validation, text splitting, placeholders."""

from __future__ import annotations

import re

import pytest

from support.llm_standin import (
    BrokenStream,
    HttpError,
    Match,
    Reply,
    Rule,
    RuleError,
    ToolCall,
    ToolCalls,
    ToolLoop,
    rules_from_json,
    rules_to_json,
)
from support.llm_standin.chat import Chat
from support.llm_standin.wire import canonical_model, split_text

RULES = [
    Rule(match=Match(user_contains="hi", tools_offered=False), respond=Reply("hello", chunks=2), times=1),
    Rule(respond=ToolCalls((ToolCall("a", {"n": 1}), ToolCall("b")), text="t"), name="calls"),
    Rule(match=Match(after_tool="a"), respond=ToolLoop("b", {"x": [1, 2]}, "got {result}"), delay=0.5),
    Rule(match=Match(model="qwen2.5:0.5b", system_regex="^You"), respond=HttpError(503, "busy"), chunk_delay=0.1),
    Rule(match=Match(after_tool=False)),
    Rule(respond=BrokenStream("partial", after=3, message="died"), times=2),
]


def test_rules_round_trip_through_json() -> None:
    assert rules_from_json(rules_to_json(RULES)) == RULES


@pytest.mark.parametrize(
    "data",
    [
        RULES[0].to_json(),
        [RULES[0].to_json()],
        {"rules": [RULES[0].to_json()]},
    ],
)
def test_rules_json_takes_one_rule_a_list_or_an_object_with_rules(data: object) -> None:
    assert rules_from_json(data) == [RULES[0]]


def test_minimal_json_rule_defaults_to_always_and_the_default_reply() -> None:
    assert rules_from_json([{"match": {"user_contains": "x"}}]) == [Rule(match=Match(user_contains="x"))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"respond": {"kind": "poem"}}, "respond.kind must be one of"),
        ({"match": {"user": "x"}}, "match: unknown field(s) user"),
        ({"respond": {"kind": "reply", "text": "x", "chunks": 0}}, "chunks must be at least 1"),
        ({"respond": {"kind": "reply"}}, "reply: "),
        ({"respond": {"kind": "tool_calls", "calls": []}}, "at least one call"),
        ({"respond": {"kind": "tool_calls", "calls": [{"arguments": {}}]}}, "name is required"),
        ({"respond": {"kind": "error", "status": 200, "message": "x"}}, "HTTP error status"),
        ({"match": {"user_regex": "("}}, "invalid regular expression"),
        ({"times": 0}, "times must be at least 1"),
        ({"delay": -1}, "must not be negative"),
        ({"respond": {"kind": "broken_stream", "text": "x", "after": -1}}, "after must not be negative"),
        ("not rules", "JSON list"),
    ],
)
def test_malformed_rules_are_refused_naming_the_field(data: object, message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        rules_from_json(data)


@pytest.mark.parametrize(
    ("text", "chunks", "pieces"),
    [
        ("", None, []),
        ("one", None, ["one"]),
        ("  two words  ", None, ["  two ", "words  "]),
        ("abcdefg", 3, ["abc", "de", "fg"]),
        ("ab", 5, ["a", "b"]),
    ],
)
def test_split_text_keeps_every_character(text: str, chunks: int | None, pieces: list[str]) -> None:
    assert split_text(text, chunks) == pieces
    assert "".join(pieces) == text


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("llama3.2:1b", "llama3.2:1b"), ("llama3.2", "llama3.2:latest"), ("reg.io:5000/m", "reg.io:5000/m:latest")],
)
def test_model_names_default_to_the_latest_tag(name: str, canonical: str) -> None:
    assert canonical_model(name) == canonical


def test_placeholders_are_replaced_once_and_literally() -> None:
    chat = Chat.from_body(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "{result}"},
                {"role": "tool", "content": "R", "tool_name": "t"},
            ],
        }
    )
    assert chat.fill("{user}|{result}|{tool}|{model}|{system}|{other}", "m") == "{result}|R|t|m|sys|{other}"


def test_trailing_tool_results_are_named_by_the_calls_in_order() -> None:
    calls = [{"function": {"name": "a", "arguments": {}}}, {"function": {"name": "b", "arguments": {}}}]
    chat = Chat.from_body(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "tool_calls": calls},
                {"role": "tool", "content": "ra"},
                {"role": "tool", "content": "rb"},
            ],
        }
    )
    assert [(r.tool, r.content) for r in chat.tool_results] == [("a", "ra"), ("b", "rb")]
    assert chat.tool_result("a") is not None and chat.tool_result("c") is None
