"""A task whose `then` names a task that does not exist."""

import stigmer
from stigmer import Agent, Workflow, tasks


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="seed-agent", model="llama3.2:1b", instructions="Stay as you are.", description="changed"))
    workflow = Workflow(name="lost", namespace="e2e-bad", version="1.0.0")
    workflow.add(
        tasks.set_vars("start", {"a": 1}, then="nowhere"),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
