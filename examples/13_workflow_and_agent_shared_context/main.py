"""Example 13: a workflow and an agent that share context values.

The same ``Var`` s configure the agent's instructions and the workflow's tasks, so changing one
value in one place changes both. A ``Var`` inside task values keeps its type (``max_repos`` is 5,
a number).
"""

import os

import stigmer
from stigmer import Agent, Workflow, expr, tasks

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")
GITHUB_API_BASE = os.environ.get("GITHUB_API_BASE", "https://api.github.com")


def main(ctx: stigmer.Context) -> None:
    org = ctx.var("org", "stigmer")
    max_repos = ctx.var("max_repos", 5)
    api_base = ctx.var("github_api_base", GITHUB_API_BASE)

    analyst = ctx.add(
        Agent(
            name="org-analyst",
            description=f"Analyses the {org} GitHub organization",
            instructions=(
                f"You analyse the GitHub organization {org}. Focus on its {max_repos} most active repositories."
            ),
            model=MODEL,
        )
    )
    workflow = Workflow(
        name="org-report",
        namespace="reports",
        version="1.0.0",
        description=f"Activity report for the {org} organization",
    )
    workflow.add(
        tasks.http_get(
            "repos",
            endpoint=f"{api_base}/orgs/{org}/repos",
            headers={"Accept": "application/vnd.github+json", "User-Agent": "stigmer-examples"},
            query={"sort": "pushed", "per_page": max_repos},
        ),
        tasks.set_vars("settings", {"org": org, "max_repos": max_repos}),
        tasks.agent_call(
            "analyze",
            agent=analyst,
            message=expr(
                '"Summarize the recent activity of these repositories: " + (.repos | map(.name) | join(", "))'
            ),
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
