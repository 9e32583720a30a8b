"""A deterministic stand-in for the LLM: a small server speaking the Ollama HTTP API that the
agent-runner calls, answering by rules a test sets, and recording every request.

In-process::

    with LLMStandin() as llm:
        llm.add_rules(tool_loop("get_weather", {"city": "Paris"}, user_contains="weather", times=1))
        ...  # point OLLAMA_HOST at llm.url
        assert llm.chats()[0].last_user_message == "What is the weather?"

As a process: ``python -m support.llm_standin --port 11434`` by hand, ``start_standin_process`` (in
``support.llm_standin.process``) in the tiers, with ``StandinClient`` to set rules and read requests.
"""

from support.llm_standin.control import StandinClient, StandinControlError
from support.llm_standin.recording import RecordedRequest
from support.llm_standin.rules import (
    BrokenStream,
    CutStream,
    Hang,
    HttpError,
    MalformedToolCall,
    Match,
    Reply,
    Rule,
    RuleError,
    ToolCall,
    ToolCalls,
    ToolLoop,
    error,
    reply,
    rules_from_json,
    rules_to_json,
    tool_call,
    tool_loop,
)
from support.llm_standin.server import LLMStandin
from support.llm_standin.wire import DEFAULT_MODELS

__all__ = [
    "DEFAULT_MODELS",
    "BrokenStream",
    "CutStream",
    "Hang",
    "HttpError",
    "LLMStandin",
    "MalformedToolCall",
    "Match",
    "RecordedRequest",
    "Reply",
    "Rule",
    "RuleError",
    "StandinClient",
    "StandinControlError",
    "ToolCall",
    "ToolCalls",
    "ToolLoop",
    "error",
    "reply",
    "rules_from_json",
    "rules_to_json",
    "tool_call",
    "tool_loop",
]
