"""Example 12: an agent configured from typed context values.

``ctx.var(name, value)`` returns a typed ``Var`` (str, int, bool, list ...). In an f-string it
gives its value; passed as a field (``model=``, ``default=``) it resolves to its value at synthesis.
"""

import os

import stigmer
from stigmer import Agent, EnvVar

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")


def main(ctx: stigmer.Context) -> None:
    team = ctx.var("team", "platform")
    max_comments = ctx.var("max_review_comments", 10)
    strict = ctx.var("strict_mode", True)
    languages = ctx.var("languages", ["python", "go"])
    model = ctx.var("model", MODEL)

    ctx.add(
        Agent(
            name="platform-reviewer",
            description=f"Code reviewer for the {team} team",
            instructions=(
                f"You review pull requests for the {team} team. Leave at most {max_comments} comments "
                f"per review. Strict mode: {strict}. Languages: {', '.join(languages.value)}."
            ),
            model=model,
            env=[EnvVar("REVIEW_TEAM", default=team, description="Team whose conventions apply")],
        )
    )


if __name__ == "__main__":
    stigmer.synthesize(main)
