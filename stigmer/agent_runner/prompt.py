"""The system prompt and the first messages of a conversation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from stigmer.api.v1 import agent_pb2

Chat = list[dict[str, Any]]


def system_prompt(
    instructions: str,
    skills: Iterable[agent_pb2.Skill] = (),
    env_names: Iterable[str] = (),
    secret_names: Iterable[str] = (),
    sub_agents: Sequence[tuple[str, str]] = (),
) -> str:
    """Instructions, then each skill's Markdown, then the env var names the tools can use (never values)."""
    parts = [instructions.strip()]
    for skill in skills:
        heading = f"## Skill: {skill.name}"
        if skill.description:
            heading += f" — {skill.description}"
        parts.append(f"{heading}\n\n{skill.markdown.strip()}")
    if sub_agents:
        lines = [f"- {name}: {description}" if description else f"- {name}" for name, description in sub_agents]
        parts.append("## Sub-agents you can delegate to (call them as tools)\n\n" + "\n".join(lines))
    secret = set(secret_names)
    names = sorted(set(env_names))
    if names:
        lines = [f"- {name} (secret, value hidden)" if name in secret else f"- {name}" for name in names]
        parts.append(
            "## Environment\n\nThese environment variables are set for your tools (names only):\n" + "\n".join(lines)
        )
    return "\n\n".join(part for part in parts if part)


def first_messages(system: str, message: str) -> Chat:
    chat: Chat = [{"role": "system", "content": system}]
    if message:
        chat.append({"role": "user", "content": message})
    return chat
