"""A wait duration that is not ISO 8601."""

import stigmer
from stigmer import Agent, Workflow, tasks


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="seed-agent", model="llama3.2:1b", instructions="Stay as you are.", description="changed"))
    workflow = Workflow(name="bad-wait", namespace="e2e-bad", version="1.0.0")
    workflow.add(
        tasks.wait("pause", duration="5 seconds"),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
