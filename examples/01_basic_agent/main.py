"""Example 01: basic agents.

Shows the smallest valid agent (a name, instructions and a model), an agent with the optional
description and icon, and an invalid agent: its constructor raises ``stigmer.ValidationError``
naming the bad field, and the project skips it.
"""

import os

import stigmer
from stigmer import Agent

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")


def main(ctx: stigmer.Context) -> None:
    ctx.add(
        Agent(
            name="code-reviewer",
            instructions="Review code and suggest improvements based on best practices.",
            model=MODEL,
        )
    )
    ctx.add(
        Agent(
            name="code-reviewer-pro",
            instructions="Review code and suggest improvements, paying special attention to security.",
            model=MODEL,
            description="Professional code reviewer with a security focus",
            icon_url="https://example.com/icons/code-reviewer.png",
        )
    )
    try:
        ctx.add(Agent(name="Invalid Name!", instructions="Test", model=MODEL))
    except stigmer.ValidationError as error:
        print(f"Skipping invalid agent: {error}")


if __name__ == "__main__":
    stigmer.synthesize(main)
