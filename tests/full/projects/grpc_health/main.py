"""A workflow that asks a gRPC service's health (grpc_call through reflection) and keeps the answer.

The full tier replaces GRPC_ADDRESS with its gRPC fixture's address (test_grpc_calls.py).
"""

import stigmer
from stigmer import Workflow, expr, tasks

GRPC_ADDRESS = "127.0.0.1:1"
HEALTH = "grpc.health.v1.Health"


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(name="health-probe", namespace="e2e", version="1.0.0", description="Ask a gRPC health check")
    workflow.add(
        tasks.grpc_call("check", GRPC_ADDRESS, HEALTH, "Check", arguments={"service": ""}),
        tasks.set_vars("report", {"status": expr(".check.status")}),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
