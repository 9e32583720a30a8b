"""An agent and a workflow that calls it: the apply tier edits, deletes and restarts around them."""

import stigmer
from stigmer import Agent, EnvVar, Skill, Workflow, tasks


def main(ctx: stigmer.Context) -> None:
    agent = Agent(
        name="e2e-agent",
        model="llama3.2:1b",
        instructions="Answer questions about the end-to-end pipeline.",
        description="first description",
        skills=[Skill(name="style", markdown="# Style\nBe brief.", description="house style")],
        env=[EnvVar("API_TOKEN", secret=True, description="token for the pipeline API")],
    )
    ctx.add(agent)
    workflow = Workflow(name="e2e-flow", namespace="e2e", version="1.0.0", description="calls the agent")
    workflow.add(
        tasks.set_vars("init", {"greeting": "hello"}),
        tasks.wait("pause", duration="PT5S"),
        tasks.agent_call("ask", agent=agent, message="Say hello"),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
