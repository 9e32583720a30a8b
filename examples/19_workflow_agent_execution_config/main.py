"""Example 19: per-call execution settings of agent calls.

Each ``agent_call`` can override the agent's model and set a temperature (0 for repeatable
answers, higher for creative ones) and a timeout suited to the task.
"""

import os

import stigmer
from stigmer import Agent, Workflow, tasks

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")


def main(ctx: stigmer.Context) -> None:
    categorizer = ctx.add(
        Agent(
            name="ticket-categorizer",
            description="Sorts support tickets",
            instructions="Put a support ticket in one category: billing, login, bug or feature-request.",
            model=MODEL,
        )
    )
    architect = ctx.add(
        Agent(
            name="architecture-reviewer",
            description="Reviews system designs",
            instructions="Review a system design for scalability and failure modes; suggest concrete improvements.",
            model=MODEL,
        )
    )
    copywriter = ctx.add(
        Agent(
            name="marketing-copywriter",
            description="Writes product announcements",
            instructions="Write short, friendly product announcements.",
            model=MODEL,
        )
    )
    workflow = Workflow(
        name="tuned-agent-calls",
        namespace="execution-config",
        version="1.0.0",
        description="Agent calls with their own model, temperature and timeout",
    )
    workflow.add(
        tasks.agent_call(
            "categorize",
            agent=categorizer,
            message="Categorize this ticket: 'I cannot log in since the last update.'",
            model=MODEL,
            temperature=0.0,
            timeout_seconds=30,
        ),
        tasks.agent_call(
            "review",
            agent=architect,
            message="Review a service that polls its database every second for new jobs.",
            model=MODEL,
            temperature=0.5,
            timeout_seconds=600,
        ),
        tasks.agent_call(
            "announce",
            agent=copywriter,
            message="Announce a new AI code review tool in two sentences.",
            temperature=0.9,
            timeout_seconds=120,
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
