"""Example 08: a workflow with conditionals.

A health check decides what happens next: a SWITCH goes to ``deploy`` when the service is
healthy, to ``hold`` when it is degraded, and otherwise to ``abort``, which raises an error.
``then="end"`` stops the workflow after a branch.
"""

import os

import stigmer
from stigmer import Workflow, expr, tasks

STATUS_API_BASE = os.environ.get("STATUS_API_BASE", "https://status.example.com")
DEPLOY_API_BASE = os.environ.get("DEPLOY_API_BASE", "https://deploy.example.com")


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(
        name="deploy-gate",
        namespace="deployments",
        version="1.0.0",
        description="Deploy only when the service is healthy",
    )
    workflow.add(
        tasks.http_get("health", endpoint=f"{STATUS_API_BASE}/v1/health", timeout_seconds=10),
        tasks.switch(
            "route",
            cases=[
                tasks.case(when='.health.status == "healthy"', then="deploy"),
                tasks.case(when='.health.status == "degraded"', then="hold"),
                tasks.default(then="abort"),
            ],
        ),
        tasks.http_post(
            "deploy",
            endpoint=f"{DEPLOY_API_BASE}/v1/deployments",
            body={"service": "checkout", "version": "2.4.0"},
            then="end",
        ),
        tasks.set_vars(
            "hold",
            {"decision": "hold", "reason": expr('"service degraded: " + (.health.message // "no details")')},
            then="end",
        ),
        tasks.raise_error(
            "abort",
            type="https://stigmer.ai/errors/unhealthy-service",
            status=503,
            title="Service is unhealthy",
            detail="The health check reported neither healthy nor degraded; the deployment was aborted.",
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
