"""A workflow version that is not a semantic version."""

import stigmer
from stigmer import Agent, Workflow, tasks


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="seed-agent", model="llama3.2:1b", instructions="Stay as you are.", description="changed"))
    workflow = Workflow(name="old-style", namespace="e2e-bad", version="1.0")
    workflow.add(
        tasks.set_vars("a", {"a": 1}),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
