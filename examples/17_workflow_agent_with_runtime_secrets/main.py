"""Example 17: a workflow that passes runtime secrets to an agent.

The workflow receives ``GITHUB_TOKEN`` and ``SLACK_TOKEN`` as secrets at run time, hands the
GitHub token to the agent's environment in the ``agent_call`` (``env=``), where the agent's
GitHub MCP server reads it, and uses the Slack token itself to publish the result.
"""

import os
import shlex

import stigmer
from stigmer import Agent, EnvVar, McpServer, Workflow, env_ref, expr, tasks

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")
SLACK_API_BASE = os.environ.get("SLACK_API_BASE", "https://slack.com")
GITHUB_MCP_COMMAND = os.environ.get("GITHUB_MCP_COMMAND", "npx")
GITHUB_MCP_ARGS = shlex.split(os.environ.get("GITHUB_MCP_ARGS", "-y @modelcontextprotocol/server-github"))


def main(ctx: stigmer.Context) -> None:
    writer = ctx.add(
        Agent(
            name="release-notes-writer",
            description="Drafts release notes from merged pull requests",
            instructions=(
                "Write release notes from the pull requests merged since the last release. "
                "Group them under Features, Fixes and Other."
            ),
            model=MODEL,
            mcp_servers=[
                McpServer.stdio(
                    "github",
                    command=GITHUB_MCP_COMMAND,
                    args=GITHUB_MCP_ARGS,
                    env={"GITHUB_PERSONAL_ACCESS_TOKEN": env_ref("GITHUB_TOKEN")},
                    enabled_tools=["list_pull_requests", "list_commits"],
                )
            ],
            env=[EnvVar("GITHUB_TOKEN", secret=True, required=True, description="GitHub token with read access")],
        )
    )
    workflow = Workflow(
        name="draft-release-notes",
        namespace="releases",
        version="1.0.0",
        description="Draft release notes and post them to Slack",
        env=[
            EnvVar("GITHUB_TOKEN", secret=True, required=True, description="GitHub token with read access"),
            EnvVar("SLACK_TOKEN", secret=True, required=True, description="Slack bot token (xoxb-...)"),
        ],
    )
    workflow.add(
        tasks.agent_call(
            "draft",
            agent=writer,
            message="Draft release notes for stigmer/stigmer since the latest release.",
            env={"GITHUB_TOKEN": env_ref("GITHUB_TOKEN")},
            timeout_seconds=300,
        ),
        tasks.http_post(
            "publish",
            endpoint=f"{SLACK_API_BASE}/api/chat.postMessage",
            headers={"Authorization": f"Bearer {env_ref('SLACK_TOKEN')}"},
            body={"channel": "#releases", "text": expr(".draft")},
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
