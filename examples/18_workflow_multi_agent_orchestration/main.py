"""Example 18: a workflow that orchestrates several agents.

An alert is triaged by one agent; then two agents work in parallel (a FORK of ``agent_call``
tasks) on the root cause and on the status update, and a SET task collects their answers.
"""

import os

import stigmer
from stigmer import Agent, Workflow, expr, tasks

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")
ALERTS_API_BASE = os.environ.get("ALERTS_API_BASE", "https://alerts.example.com")


def main(ctx: stigmer.Context) -> None:
    triager = ctx.add(
        Agent(
            name="incident-triager",
            description="Rates the severity of incidents",
            instructions=(
                "Rate the severity of an incident from sev1 (outage) to sev4 (cosmetic). "
                "Answer with the rating and one sentence why."
            ),
            model=MODEL,
        )
    )
    analyst = ctx.add(
        Agent(
            name="root-cause-analyst",
            description="Finds probable root causes",
            instructions=(
                "Find the most probable root cause of an incident from its alert data and list what to check first."
            ),
            model=MODEL,
        )
    )
    communicator = ctx.add(
        Agent(
            name="incident-communicator",
            description="Writes status page updates",
            instructions="Write short, calm status page updates for customers. No internal details, no blame.",
            model=MODEL,
        )
    )
    workflow = Workflow(
        name="incident-response",
        namespace="incidents",
        version="1.0.0",
        description="Triage an alert, then investigate and communicate in parallel",
    )
    workflow.add(
        tasks.http_get("alert", endpoint=f"{ALERTS_API_BASE}/v1/incidents/latest"),
        tasks.agent_call(
            "triage", agent=triager, message=expr('"Rate the severity of this alert: " + (.alert | tostring)')
        ),
        tasks.fork(
            "respond",
            branches=[
                tasks.agent_call(
                    "diagnose", agent=analyst, message=expr('"Find the root cause of: " + (.alert | tostring)')
                ),
                tasks.agent_call(
                    "announce",
                    agent=communicator,
                    message=expr('"Write a status update for this incident: " + (.triage | tostring)'),
                ),
            ],
        ),
        tasks.set_vars(
            "report", {"severity": expr(".triage"), "root_cause": expr(".diagnose"), "status_update": expr(".announce")}
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
