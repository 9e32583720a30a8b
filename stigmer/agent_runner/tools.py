"""Tools offered to the model: a name, a JSON schema, where it lives, and what runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[dict[str, Any], str], Awaitable[str]]
"""Runs a call: ``(arguments, call_id) -> result text``; raises ``ToolError`` for a failed call."""

BUILTIN = "builtin"


def mcp_source(server: str) -> str:
    return f"mcp:{server}"


def sub_agent_source(name: str) -> str:
    return f"sub-agent:{name}"


class ToolError(Exception):
    """A tool call failed; the message goes back to the model and into the tool call's result."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    source: str
    handler: Handler

    def schema(self) -> dict[str, Any]:
        """The tool in the Ollama /api/chat ``tools`` format."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


class ToolBox:
    """The tools of one agent, by the name the model calls them with.

    A name taken already gets the source's name in front (``server__tool``), so tools of two MCP servers
    never shadow each other.
    """

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> Tool:
        name = tool.name
        if name in self._tools:
            prefix = tool.source.split(":", 1)[-1].replace("-", "_")
            name = f"{prefix}__{tool.name}"
        if name in self._tools:
            raise ValueError(f"two tools are named {name!r}")
        named = Tool(name, tool.description, tool.parameters, tool.source, tool.handler)
        self._tools[name] = named
        return named

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self._tools.values()]

    def subset(self, keep: Callable[[Tool], bool]) -> ToolBox:
        box = ToolBox()
        box._tools = {name: tool for name, tool in self._tools.items() if keep(tool)}
        return box
