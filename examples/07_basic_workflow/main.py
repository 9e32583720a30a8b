"""Example 07: a basic workflow.

An HTTP GET of a GitHub repository, then a SET task that keeps the numbers that matter, read from
the GET's output with ``${ }`` expressions.
"""

import os

import stigmer
from stigmer import Workflow, expr, tasks

GITHUB_API_BASE = os.environ.get("GITHUB_API_BASE", "https://api.github.com")


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(
        name="repo-stats",
        namespace="github",
        version="1.0.0",
        description="Fetch a GitHub repository and keep its key numbers",
    )
    workflow.add(
        tasks.http_get(
            "fetch",
            endpoint=f"{GITHUB_API_BASE}/repos/stigmer/stigmer",
            headers={"Accept": "application/vnd.github+json", "User-Agent": "stigmer-examples"},
            timeout_seconds=30,
        ),
        tasks.set_vars(
            "summarize",
            {
                "repository": expr(".fetch.full_name"),
                "stars": expr(".fetch.stargazers_count"),
                "open_issues": expr(".fetch.open_issues_count"),
            },
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
