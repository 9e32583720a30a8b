"""Example 02: an agent with skills.

Skills are Markdown knowledge an agent draws on: one written inline, one kept in a file of the
project (``Skill.from_file``, named after the file unless ``name=`` is given).
"""

import os

import stigmer
from stigmer import Agent, Skill

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")

MARKDOWN_STYLE = """# Markdown style

- One sentence per line.
- Sentence case for headings.
- Fence code blocks and name their language.
"""


def main(ctx: stigmer.Context) -> None:
    ctx.add(
        Agent(
            name="technical-writer",
            description="Writes developer documentation",
            instructions=(
                "Write clear, accurate documentation for developers. "
                "Format it with the markdown-style skill and document APIs with the api-documentation skill."
            ),
            model=MODEL,
            skills=[
                Skill(name="markdown-style", description="House style for Markdown", markdown=MARKDOWN_STYLE),
                Skill.from_file("skills/api-documentation.md", description="How to document a REST API"),
            ],
        )
    )


if __name__ == "__main__":
    stigmer.synthesize(main)
