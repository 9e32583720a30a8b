"""The Ollama HTTP API's JSON shapes, as the official ``ollama`` Python client reads them.

Checked against ``ollama`` 0.6 (``_client.py``, ``_types.py``): ``ChatResponse`` chunks carry
``message.content`` (a fragment when streaming) and ``message.tool_calls`` as
``[{"function": {"name", "arguments": {...}}}]``; the last chunk has ``done: true``, ``done_reason``
and the counters; errors are ``{"error": "..."}`` with the HTTP status; ``ShowResponse`` requires
``model_info``. Every value here is a function of its inputs: no clock other than ``created_at``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from support.llm_standin.rules import ToolCall

OLLAMA_VERSION = "0.12.6"
DEFAULT_MODELS = ("llama3.2:1b", "qwen2.5:0.5b")
MODIFIED_AT = "2025-01-01T00:00:00Z"

_MS = 1_000_000


def canonical_model(name: str) -> str:
    """Ollama's name for ``name``: the tag defaults to ``latest`` (``llama3.2`` -> ``llama3.2:latest``)."""
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def error_body(message: str) -> dict[str, str]:
    return {"error": message}


def model_not_found_for_chat(model: str) -> str:
    return f'model "{model}" not found, try pulling it first'


def model_not_found_for_show(model: str) -> str:
    return f"model '{model}' not found"


def _details(model: str) -> dict[str, Any]:
    base, _, tag = model.rpartition(":")
    family = re.match(r"[a-z]+\d?", base.rsplit("/", 1)[-1].lower())
    name = family.group(0) if family else base
    return {
        "parent_model": "",
        "format": "gguf",
        "family": name,
        "families": [name],
        "parameter_size": tag.upper() if re.fullmatch(r"[\d.]+[bm]", tag) else "",
        "quantization_level": "Q8_0",
    }


def _digest(model: str) -> str:
    return hashlib.sha256(model.encode()).hexdigest()


def tags(models: Sequence[str]) -> dict[str, Any]:
    """The body of ``GET /api/tags``."""
    return {
        "models": [
            {
                "name": model,
                "model": model,
                "modified_at": MODIFIED_AT,
                "size": 1_000_000 + len(model),
                "digest": _digest(model),
                "details": _details(model),
            }
            for model in models
        ]
    }


def show(model: str) -> dict[str, Any]:
    """The body of ``POST /api/show`` for a model the stand-in has."""
    details = _details(model)
    return {
        "modelfile": f"# Modelfile of the Stigmer LLM stand-in\nFROM {model}\n",
        "parameters": "temperature 0",
        "template": "{{ .Prompt }}",
        "details": details,
        "model_info": {"general.architecture": details["family"], "general.basename": "stigmer-standin"},
        "capabilities": ["completion", "tools"],
        "modified_at": MODIFIED_AT,
    }


def split_text(text: str, chunks: int | None) -> list[str]:
    """``text`` in streamed pieces: ``chunks`` near-equal ones, or one per word (with its trailing space)."""
    if not text:
        return []
    if chunks is None:
        return re.findall(r"\s*\S+\s*|\s+", text)
    count = min(chunks, len(text))
    size, extra = divmod(len(text), count)
    pieces, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {"function": {"index": index, "name": call.name, "arguments": dict(call.arguments)}}
        for index, call in enumerate(calls)
    ]


def created_at() -> str:
    """Ollama's timestamp format (RFC 3339 with fractional seconds, UTC)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def chunk(model: str, content: str, calls: Sequence[ToolCall] = ()) -> dict[str, Any]:
    """One streamed ``done: false`` chunk."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = tool_calls(calls)
    return {"model": model, "created_at": created_at(), "message": message, "done": False}


def final(
    model: str,
    content: str,
    calls: Sequence[ToolCall],
    *,
    prompt_words: int,
    pieces: int,
    waited: float,
    streamed: bool = False,
) -> dict[str, Any]:
    """The ``done: true`` object: the whole answer, or (``streamed``) an empty message after the chunks.

    Durations are synthetic but fixed (1 ms to load, 0.1 ms per prompt word, 1 ms per output piece)
    plus the latency the rule asked for, so the same request always reports the same numbers.
    """
    message: dict[str, Any] = {"role": "assistant", "content": "" if streamed else content}
    if calls and not streamed:
        message["tool_calls"] = tool_calls(calls)
    prompt_eval_count = max(prompt_words, 1)
    eval_count = max(pieces + len(calls), 1)
    load, prompt_eval, evaluation = _MS, prompt_eval_count * _MS // 10, eval_count * _MS
    return {
        "model": model,
        "created_at": created_at(),
        "message": message,
        "done": True,
        "done_reason": "stop",
        "total_duration": load + prompt_eval + evaluation + round(waited * 1e9),
        "load_duration": load,
        "prompt_eval_count": prompt_eval_count,
        "prompt_eval_duration": prompt_eval,
        "eval_count": eval_count,
        "eval_duration": evaluation,
    }


def loaded(model: str) -> dict[str, Any]:
    """Ollama's answer to a chat with no messages: the model is loaded, nothing generated."""
    message = {"role": "assistant", "content": ""}
    return {"model": model, "created_at": created_at(), "message": message, "done_reason": "load", "done": True}


def prompt_words(body: dict[str, Any]) -> int:
    """How many words the request's messages hold (the stand-in's prompt token count)."""
    words = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            words += len(content.split())
    return words
