"""A jq expression that does not parse."""

import stigmer
from stigmer import Agent, Workflow, expr, tasks


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="seed-agent", model="llama3.2:1b", instructions="Stay as you are.", description="changed"))
    workflow = Workflow(name="bad-jq", namespace="e2e-bad", version="1.0.0")
    workflow.add(
        tasks.set_vars("shape", {"title": expr(".fetch.title |")}),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
