"""A workflow that waits for an hour after its first call: the full tier cancels it while it waits."""

import os

import stigmer
from stigmer import Workflow, tasks

STATUS_API_BASE = os.environ.get("STATUS_API_BASE", "https://status.example.com")


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(name="slow-job", namespace="e2e", version="1.0.0", description="Start, then wait an hour")
    workflow.add(
        tasks.http_get("start", endpoint=f"{STATUS_API_BASE}/v1/jobs/start"),
        tasks.wait("hold", duration="PT1H"),
        tasks.set_vars("after", {"done": True}),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
