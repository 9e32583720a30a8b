"""One model turn through the Ollama HTTP API (``/api/chat``, streamed), with errors that say what to do."""

from __future__ import annotations

import email.utils
import functools
import json
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import ollama


class LlmError(Exception):
    """The model could not answer; the message tells the user how to fix it.

    ``retryable``: the LLM may answer on another attempt (unreachable, 5xx, rate limited, broken
    stream); an unknown model, another 4xx or a timeout will not change by retrying. ``retry_after``:
    the seconds the LLM asked to wait first (its ``Retry-After``, bounded), if it said. ``timeout``:
    the model or the whole run took too long (reported as the DSL's timeout error).
    """

    def __init__(
        self, message: str, *, retryable: bool = False, timeout: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.timeout = timeout
        self.retry_after = retry_after


RETRY_AFTER_CAP_SECONDS = 60.0
"""The longest wait a ``Retry-After`` can impose before the next attempt (a larger value is capped)."""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header value asks for (delta-seconds or an HTTP date), between 0 and
    ``RETRY_AFTER_CAP_SECONDS``; None when there is none or it cannot be read."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


@dataclass(frozen=True)
class ToolRequest:
    name: str
    arguments: dict[str, Any]


@dataclass
class Turn:
    text: str = ""
    tool_requests: list[ToolRequest] = field(default_factory=list)

    def assistant_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_requests:
            message["tool_calls"] = [
                {"function": {"name": r.name, "arguments": r.arguments}} for r in self.tool_requests
            ]
        return message


@dataclass(frozen=True)
class ChatOptions:
    host: str
    model: str
    timeout_seconds: float
    temperature: float | None = None

    def options(self) -> dict[str, Any]:
        return {} if self.temperature is None else {"temperature": self.temperature}


OnText = Callable[[str], Awaitable[None]]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings every client of this process shares (httpx's defaults, CA bundle included).

    Each new httpx client would otherwise build its own and load the CA bundle again: about 60 ms of
    CPU per model turn, on the event loop that runs every activity of the runner.
    """
    return httpx.create_ssl_context()


async def chat_turn(
    options: ChatOptions, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], on_text: OnText
) -> Turn:
    """Stream one answer; ``on_text(text so far)`` after every chunk that adds text."""
    retry_after: list[str] = []  # the Retry-After of an error answer (ollama's error keeps no headers)

    async def note_retry_after(response: httpx.Response) -> None:
        if response.status_code >= 400 and "retry-after" in response.headers:
            retry_after.append(response.headers["retry-after"])

    client = ollama.AsyncClient(
        host=options.host,
        timeout=options.timeout_seconds,
        verify=tls_context(),
        event_hooks={"response": [note_retry_after]},
    )
    turn = Turn()
    try:
        stream = await client.chat(
            model=options.model,
            messages=list(messages),
            tools=list(tools) or None,
            stream=True,
            options=options.options() or None,
        )
        async for chunk in stream:
            message = chunk.message
            if message.content:
                turn.text += message.content
                await on_text(turn.text)
            for call in message.tool_calls or ():
                turn.tool_requests.append(ToolRequest(call.function.name, _arguments(call.function.arguments)))
    except ollama.ResponseError as exc:
        raise _response_error(options, exc, retry_after_seconds(retry_after[-1] if retry_after else None)) from None
    except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout):
        raise LlmError(_unreachable(options), retryable=True) from None
    except httpx.TimeoutException:
        raise LlmError(
            f"the model {options.model!r} at {options.host} did not answer within {options.timeout_seconds:g} s; "
            "raise the execution's timeout_seconds, use a smaller model, or check that Ollama is not overloaded",
            timeout=True,
        ) from None
    except httpx.HTTPError as exc:
        raise LlmError(f"the LLM at {options.host} failed: {exc}; {_unreachable(options)}", retryable=True) from None
    finally:
        await client.close()
    return turn


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw or "{}")
        except json.JSONDecodeError:
            return {"input": raw}
    return dict(raw or {})


def _unreachable(options: ChatOptions) -> str:
    return (
        f"cannot reach the LLM at {options.host}: start Ollama with `ollama serve` "
        f"(and `ollama pull {options.model}`), or point OLLAMA_HOST=http://HOST:PORT at a running one"
    )


def _response_error(options: ChatOptions, exc: ollama.ResponseError, retry_after: float | None = None) -> LlmError:
    detail = exc.error or str(exc)
    if exc.status_code == 429:
        wait = f"after the {retry_after:g} s it asked for" if retry_after is not None else "with backoff"
        return LlmError(
            f"the LLM at {options.host} is rate limiting (HTTP 429: {detail}); the run is retried {wait}",
            retryable=True,
            retry_after=retry_after,
        )
    if exc.status_code == 404:
        return LlmError(
            f"model {options.model!r} is not available at {options.host} ({detail}): "
            f"run `ollama pull {options.model}`, or set STIGMER_LLM_MODEL to a model you have"
        )
    if exc.status_code < 0:  # an error line in the middle of the stream
        return LlmError(
            f"the LLM at {options.host} broke off its answer: {detail} "
            f"(model {options.model!r}; check the `ollama serve` logs)",
            retryable=True,
        )
    return LlmError(
        f"the LLM at {options.host} answered HTTP {exc.status_code}: {detail} "
        f"(model {options.model!r}; check the `ollama serve` logs, or OLLAMA_HOST)",
        retryable=exc.status_code >= 500,
    )
