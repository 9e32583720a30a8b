"""Example 14: a workflow with runtime secrets.

The workflow declares the secrets it needs as secret env vars and references them as
``${ $env.NAME }``; their values are given per run
(``stigmer run deploy-notice --runtime-env secret:SLACK_TOKEN=xoxb-...``) and never stored in code.
"""

import os

import stigmer
from stigmer import EnvVar, Workflow, env_ref, expr, tasks

DEPLOY_API_BASE = os.environ.get("DEPLOY_API_BASE", "https://deploy.example.com")
SLACK_API_BASE = os.environ.get("SLACK_API_BASE", "https://slack.com")


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(
        name="deploy-notice",
        namespace="notifications",
        version="1.0.0",
        description="Announce the latest deployment in Slack",
        env=[
            EnvVar("DEPLOY_API_TOKEN", secret=True, required=True, description="Token of the deployment API"),
            EnvVar("SLACK_TOKEN", secret=True, required=True, description="Slack bot token (xoxb-...)"),
        ],
    )
    workflow.add(
        tasks.http_get(
            "deployment",
            endpoint=f"{DEPLOY_API_BASE}/v1/deployments/latest",
            headers={"Authorization": f"Bearer {env_ref('DEPLOY_API_TOKEN')}"},
        ),
        tasks.http_post(
            "announce",
            endpoint=f"{SLACK_API_BASE}/api/chat.postMessage",
            headers={"Authorization": f"Bearer {env_ref('SLACK_TOKEN')}"},
            body={
                "channel": "#deployments",
                "text": expr('"Deployed " + .deployment.service + " " + .deployment.version'),
            },
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
