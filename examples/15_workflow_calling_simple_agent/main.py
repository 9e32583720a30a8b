"""Example 15: a workflow that calls an agent of the same project.

``tasks.agent_call`` takes the ``Agent`` itself; the workflow fetches a GitHub issue and asks the
agent to summarize it, building the message from the fetched data with an expression.
"""

import os

import stigmer
from stigmer import Agent, Workflow, expr, tasks

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")
GITHUB_API_BASE = os.environ.get("GITHUB_API_BASE", "https://api.github.com")


def main(ctx: stigmer.Context) -> None:
    summarizer = ctx.add(
        Agent(
            name="issue-summarizer",
            description="Summarizes GitHub issues",
            instructions="Summarize GitHub issues for a busy maintainer: the problem, its impact, and what is asked.",
            model=MODEL,
        )
    )
    workflow = Workflow(
        name="summarize-issue",
        namespace="support",
        version="1.0.0",
        description="Fetch a GitHub issue and summarize it",
    )
    workflow.add(
        tasks.http_get(
            "issue",
            endpoint=f"{GITHUB_API_BASE}/repos/stigmer/stigmer/issues/1",
            headers={"Accept": "application/vnd.github+json", "User-Agent": "stigmer-examples"},
        ),
        tasks.agent_call(
            "summarize",
            agent=summarizer,
            message=expr(
                '"Summarize this GitHub issue in three sentences: " + .issue.title + " - " + (.issue.body // "")'
            ),
        ),
        tasks.set_vars("result", {"issue": expr(".issue.number"), "summary": expr(".summarize")}),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
