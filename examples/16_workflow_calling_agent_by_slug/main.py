"""Example 16: a workflow that calls an agent by its slug.

The agent is not part of this project: ``code-reviewer`` is deployed by example 01, and the
server resolves the slug when the workflow is applied (apply example 01 first).
"""

import os

import stigmer
from stigmer import Workflow, expr, tasks

GITHUB_API_BASE = os.environ.get("GITHUB_API_BASE", "https://api.github.com")


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(
        name="review-pull-request",
        namespace="review",
        version="1.0.0",
        description="Ask the code-reviewer agent to review a pull request",
    )
    workflow.add(
        tasks.http_get(
            "diff",
            endpoint=f"{GITHUB_API_BASE}/repos/stigmer/stigmer/pulls/1",
            headers={"Accept": "application/vnd.github.diff", "User-Agent": "stigmer-examples"},
        ),
        tasks.agent_call(
            "review",
            agent="code-reviewer",
            message=expr('"Review this pull request diff: " + (.diff | tostring)'),
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
