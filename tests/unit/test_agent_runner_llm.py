"""Model turns through the Ollama API (the LLM stand-in in-process): the CA bundle is loaded once per
process, not once per turn (it costs about 60 ms of CPU on the runner's event loop); a rate-limited
turn (HTTP 429) is retryable, with the wait its ``Retry-After`` asked for."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from stigmer.agent_runner import llm
from stigmer.agent_runner.llm import ChatOptions, LlmError, chat_turn
from support.faults.llm import rate_limited
from support.llm_standin import LLMStandin

MODEL = "llama3.2:1b"


@pytest.fixture
def standin() -> Iterator[LLMStandin]:
    with LLMStandin(models=(MODEL,)) as running:
        yield running


def test_turns_share_one_tls_context(standin: LLMStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[Any] = []
    original = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    llm.tls_context.cache_clear()
    options = ChatOptions(host=standin.url, model=MODEL, timeout_seconds=10)

    async def two_turns() -> list[str]:
        async def ignore(text: str) -> None:
            return None

        messages = [{"role": "user", "content": "hi"}]
        return [(await chat_turn(options, messages, [], ignore)).text for _ in range(2)]

    assert asyncio.run(two_turns()) == ["Stand-in reply to: hi"] * 2
    assert len(loads) == 1, f"the CA bundle was loaded {len(loads)} times for two turns"
    assert llm.tls_context() is llm.tls_context()


def test_a_rate_limited_turn_is_retryable_and_carries_the_wait_it_asked_for(standin: LLMStandin) -> None:
    standin.add_rules(rate_limited(times=1, retry_after=3), rate_limited(times=1))
    options = ChatOptions(host=standin.url, model=MODEL, timeout_seconds=10)

    async def turn() -> LlmError:
        async def ignore(text: str) -> None:
            return None

        with pytest.raises(LlmError) as raised:
            await chat_turn(options, [{"role": "user", "content": "hi"}], [], ignore)
        return raised.value

    asked = asyncio.run(turn())
    assert asked.retryable and asked.retry_after == 3.0
    assert "rate limiting (HTTP 429" in str(asked) and "after the 3 s it asked for" in str(asked)
    silent = asyncio.run(turn())
    assert silent.retryable and silent.retry_after is None
    assert "with backoff" in str(silent)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("-5", 0.0),
        ("100000", llm.RETRY_AFTER_CAP_SECONDS),
        ("Wed, 02 Dec 2026 00:00:30 GMT", 30.0),
        ("Wed, 02 Dec 2026 00:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date_and_bounded(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 12, 2, 0, 0, 0, tzinfo=UTC)
    assert llm.retry_after_seconds(value, now) == seconds
