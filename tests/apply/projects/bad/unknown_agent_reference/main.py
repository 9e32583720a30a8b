"""An agent_call to an agent that is neither in the project nor stored."""

import stigmer
from stigmer import Agent, Workflow, tasks


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="seed-agent", model="llama3.2:1b", instructions="Stay as you are.", description="changed"))
    workflow = Workflow(name="calls-ghost", namespace="e2e-bad", version="1.0.0")
    workflow.add(
        tasks.agent_call("ask", agent="no-such-agent", message="hello"),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
