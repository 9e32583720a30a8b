"""Example 05: an agent with environment variables.

Secrets (``secret=True``) are given per run (``stigmer run ... --runtime-env secret:KEY=VALUE``);
plain settings can have defaults. The agent's MCP server reads them through ``${ $env.NAME }``.
"""

import os
import shlex

import stigmer
from stigmer import Agent, EnvVar, McpServer, env_ref

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")
AWS_MCP_COMMAND = os.environ.get("AWS_MCP_COMMAND", "uvx")
AWS_MCP_ARGS = shlex.split(os.environ.get("AWS_MCP_ARGS", "awslabs.aws-api-mcp-server@latest"))


def main(ctx: stigmer.Context) -> None:
    ctx.add(
        Agent(
            name="cloud-deployer",
            description="Deploys services to AWS",
            instructions=(
                "Deploy services to AWS, to the environment named by DEPLOY_ENVIRONMENT in the region "
                "AWS_REGION. Never print credentials."
            ),
            model=MODEL,
            mcp_servers=[
                McpServer.stdio(
                    "aws",
                    command=AWS_MCP_COMMAND,
                    args=AWS_MCP_ARGS,
                    env={
                        "AWS_ACCESS_KEY_ID": env_ref("AWS_ACCESS_KEY_ID"),
                        "AWS_SECRET_ACCESS_KEY": env_ref("AWS_SECRET_ACCESS_KEY"),
                        "AWS_REGION": env_ref("AWS_REGION"),
                    },
                )
            ],
            env=[
                EnvVar("AWS_ACCESS_KEY_ID", secret=True, required=True, description="AWS access key ID"),
                EnvVar("AWS_SECRET_ACCESS_KEY", secret=True, required=True, description="AWS secret access key"),
                EnvVar("AWS_REGION", default="us-east-1", description="Region to deploy to"),
                EnvVar("DEPLOY_ENVIRONMENT", default="staging", description="Environment to deploy to"),
                EnvVar("LOG_LEVEL", default="info"),
            ],
        )
    )


if __name__ == "__main__":
    stigmer.synthesize(main)
