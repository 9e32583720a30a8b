"""Example 06: an agent whose instructions and skills live in Markdown files.

Long prompts are easier to review as files: ``stigmer.instructions_from_file`` and
``Skill.from_file`` read them relative to the project folder.
"""

import os

import stigmer
from stigmer import Agent, Skill

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")


def main(ctx: stigmer.Context) -> None:
    ctx.add(
        Agent(
            name="security-reviewer",
            description="Reviews pull requests for security problems",
            instructions=stigmer.instructions_from_file("instructions/security-reviewer.md"),
            model=MODEL,
            skills=[
                Skill.from_file("skills/security-guidelines.md", description="What secure code looks like here"),
                Skill.from_file("skills/testing-best-practices.md", description="How changes are tested"),
            ],
        )
    )


if __name__ == "__main__":
    stigmer.synthesize(main)
