"""Example 11: a workflow with parallel execution.

A FORK runs its branches at the same time and waits for all of them; with ``compete=True`` the
first branch to finish wins and the others are cancelled.
"""

import os

import stigmer
from stigmer import Workflow, expr, tasks

GITHUB_API_BASE = os.environ.get("GITHUB_API_BASE", "https://api.github.com")
STATUS_API_BASE = os.environ.get("STATUS_API_BASE", "https://status.example.com")
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "User-Agent": "stigmer-examples"}


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(
        name="project-dashboard",
        namespace="dashboards",
        version="1.0.0",
        description="Gather a project's numbers in parallel",
    )
    workflow.add(
        tasks.fork(
            "gather",
            branches=[
                tasks.http_get("repo", endpoint=f"{GITHUB_API_BASE}/repos/stigmer/stigmer", headers=GITHUB_HEADERS),
                tasks.http_get(
                    "issues",
                    endpoint=f"{GITHUB_API_BASE}/repos/stigmer/stigmer/issues",
                    headers=GITHUB_HEADERS,
                    query={"state": "open"},
                ),
            ],
        ),
        tasks.fork(
            "fastest-region",
            compete=True,
            branches=[
                tasks.http_get("eu", endpoint=f"{STATUS_API_BASE}/eu/v1/health"),
                tasks.http_get("us", endpoint=f"{STATUS_API_BASE}/us/v1/health"),
            ],
        ),
        tasks.set_vars(
            "dashboard",
            {"stars": expr(".repo.stargazers_count"), "open_issues": expr(".issues | length")},
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
