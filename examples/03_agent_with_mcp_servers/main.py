"""Example 03: an agent with MCP servers, one per transport.

``stdio`` (a subprocess the runner starts), ``http`` (a remote server) and ``docker`` (a
container). Credentials are runtime secrets: declared as secret env vars and referenced as
``${ $env.NAME }`` expressions, never written into the code.
"""

import os
import shlex

import stigmer
from stigmer import Agent, EnvVar, McpServer, env_ref

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")
DOCS_MCP_URL = os.environ.get("DOCS_MCP_URL", "https://mcp.example.com/docs")
GITHUB_MCP_COMMAND = os.environ.get("GITHUB_MCP_COMMAND", "npx")
GITHUB_MCP_ARGS = shlex.split(os.environ.get("GITHUB_MCP_ARGS", "-y @modelcontextprotocol/server-github"))


def main(ctx: stigmer.Context) -> None:
    ctx.add(
        Agent(
            name="devops-assistant",
            description="Helps with pull requests, issues and documentation",
            instructions=(
                "Help the team with pull requests, issues and documentation. Use the github tools for "
                "repositories, docs-search for documentation and filesystem for files in the workspace."
            ),
            model=MODEL,
            mcp_servers=[
                McpServer.stdio(
                    "github",
                    command=GITHUB_MCP_COMMAND,
                    args=GITHUB_MCP_ARGS,
                    env={"GITHUB_PERSONAL_ACCESS_TOKEN": env_ref("GITHUB_TOKEN")},
                    enabled_tools=["get_pull_request", "list_issues", "add_issue_comment"],
                ),
                McpServer.http(
                    "docs-search",
                    url=DOCS_MCP_URL,
                    headers={"Authorization": f"Bearer {env_ref('DOCS_API_KEY')}"},
                    timeout_seconds=30,
                ),
                McpServer.docker(
                    "filesystem",
                    image="mcp/filesystem:latest",
                    args=["/workspace"],
                    volumes=["/tmp/stigmer-workspace:/workspace"],
                    env={"LOG_LEVEL": "info"},
                ),
            ],
            env=[
                EnvVar("GITHUB_TOKEN", secret=True, required=True, description="GitHub token for the github server"),
                EnvVar("DOCS_API_KEY", secret=True, required=True, description="API key of the docs search service"),
            ],
        )
    )


if __name__ == "__main__":
    stigmer.synthesize(main)
