"""What the bad-input tests find stored before each attempt: none of them may change it."""

import stigmer
from stigmer import Agent, Workflow, tasks


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="seed-agent", model="llama3.2:1b", instructions="Stay as you are.", description="seeded"))
    workflow = Workflow(name="seed-flow", namespace="e2e-seed", version="1.0.0", description="seeded")
    workflow.add(tasks.set_vars("init", {"state": "seeded"}))
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
