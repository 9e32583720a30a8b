"""Model turns through the Ollama API (the LLM stand-in in-process): the CA bundle is loaded once per
process, not once per turn (it costs about 60 ms of CPU on the runner's event loop)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from stigmer.agent_runner import llm
from stigmer.agent_runner.llm import ChatOptions, chat_turn
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
