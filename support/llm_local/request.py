"""An Ollama ``/api/chat`` request turned into the OpenAI-style request llama.cpp's server takes.

- ``options`` map onto llama.cpp's sampling fields (``num_predict`` -> ``max_tokens``, the others by
  name); the served model's defaults (``MODEL_DEFAULTS``, shown by ``/api/show`` like a Modelfile's
  parameters) apply where the request says nothing.
- ``format``: ``"json"`` -> any JSON object, a JSON schema -> output matching it.
- ``tools``, not constrained: passed on as OpenAI tools; llama.cpp decides what the model sees.
- ``tools``, constrained (``options.stigmer_constrain_tools: true``, or the server's
  ``--constrain-tools`` for requests that do not say): the tools are described in the system prompt and
  the reply must match ``constrained.reply_schema`` (see that module).
- Earlier tool calls of the assistant are written as the reply format's JSON, and tool results as
  messages of role ``tool`` starting with the tool's name: SmolLM2's chat template has no tool syntax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from support.llm_local import constrained

CONSTRAIN_OPTION = "stigmer_constrain_tools"
"""The per-request option (in Ollama's ``options``) that turns constrained tool calls on or off."""
MODEL_DEFAULTS: dict[str, Any] = {"temperature": 0.0, "seed": 42, "num_predict": 256, "repeat_penalty": 1.1}
_SAME_NAME = (
    *("temperature", "top_p", "top_k", "min_p", "typical_p", "seed", "stop"),
    *("repeat_penalty", "repeat_last_n", "presence_penalty", "frequency_penalty"),
)


class RequestError(Exception):
    """The request cannot be served (answered with HTTP 400 and this message)."""


@dataclass(frozen=True)
class Plan:
    """What to ask llama.cpp (``body``), and whether its answer is a constrained reply to read back."""

    body: dict[str, Any]
    constrained: bool
    stream: bool


def sampling(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """llama.cpp's sampling fields for Ollama ``options`` (over the model's defaults)."""
    merged = {**MODEL_DEFAULTS, **(options or {})}
    fields = {name: merged[name] for name in _SAME_NAME if merged.get(name) is not None}
    predict = merged.get("num_predict")
    if isinstance(predict, int) and predict >= 0:
        fields["max_tokens"] = predict
    return fields


def response_format(format_: Any) -> dict[str, Any] | None:
    """llama.cpp's ``response_format`` for Ollama's ``format`` (``"json"`` or a JSON schema)."""
    if format_ in (None, ""):
        return None
    if format_ == "json":
        return {"type": "json_object"}
    if isinstance(format_, Mapping):
        return {"type": "json_schema", "json_schema": {"name": "format", "schema": dict(format_)}}
    raise RequestError(f'invalid format {format_!r}: use "json" or a JSON schema object')


def wants_constraint(body: Mapping[str, Any], server_default: bool) -> bool:
    """Whether this request's tool calls are constrained: its option, else the server's flag."""
    if not body.get("tools"):
        return False
    chosen = (body.get("options") or {}).get(CONSTRAIN_OPTION)
    if chosen is None:
        return server_default
    if not isinstance(chosen, bool):
        raise RequestError(f"options.{CONSTRAIN_OPTION} must be true or false, not {chosen!r}")
    return chosen


def messages(ollama: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as llama.cpp messages (tool calls and results written out, see the docstring)."""
    converted = []
    for message in ollama:
        role = str(message.get("role") or "user")
        content = str(message.get("content") or "")
        calls = message.get("tool_calls") or ()
        if role == "assistant" and calls:
            written = [
                constrained.call_text(str(fn.get("name", "")), fn.get("arguments") or {})
                for fn in (call.get("function") or {} for call in calls)
            ]
            content = "\n".join(filter(None, [content, *written]))
        elif role == "tool" and message.get("tool_name"):
            content = f"{message['tool_name']} returned: {content}"
        converted.append({"role": role, "content": content})
    return converted


def with_system_block(converted: list[dict[str, Any]], block: str) -> list[dict[str, Any]]:
    """``converted`` with ``block`` appended to its system prompt (one is added first when there is none)."""
    if converted and converted[0]["role"] == "system":
        first = {**converted[0], "content": f"{converted[0]['content']}\n\n{block}".strip()}
        return [first, *converted[1:]]
    return [{"role": "system", "content": block}, *converted]


def openai_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": dict(constrained.tool_function(tool))} for tool in tools]


def plan(body: Mapping[str, Any], *, constrain_tools: bool = False) -> Plan:
    """The llama.cpp request for the Ollama chat ``body``; ``constrain_tools``: the server's flag."""
    history = body.get("messages") or []
    if not isinstance(history, list) or not all(isinstance(m, Mapping) for m in history):
        raise RequestError("messages must be a list of objects")
    tools = body.get("tools") or []
    options = body.get("options") or {}
    if not isinstance(options, Mapping):
        raise RequestError("options must be an object")
    constrain = wants_constraint(body, constrain_tools)
    converted = messages(history)
    request: dict[str, Any] = {"stream": True, **sampling(options)}
    fmt = response_format(body.get("format"))
    if constrain:
        answer = None if fmt is None else fmt["json_schema"]["schema"] if "json_schema" in fmt else {"type": "object"}
        schema = constrained.reply_schema(tools, answer_only=constrained.answer_only(history), answer=answer)
        converted = with_system_block(converted, constrained.tools_prompt(tools))
        fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
    elif tools:
        request["tools"] = openai_tools(tools)
    if fmt is not None:
        request["response_format"] = fmt
    request["messages"] = converted
    return Plan(request, constrain, body.get("stream", True) is not False)
