"""Workflows with children, for the full tier's cancel, delete and race tests.

- ``e2e/child-job``: GET ``/v1/child/start``, wait ``CHILD_HOLD`` seconds, POST ``/v1/child/after``
  (the side effect that must never happen once the child is cancelled).
- ``e2e/parent-job``: GET ``/v1/parent/start``, then a fork running child-job (``run``) next to a
  call of the agent ``slow-helper`` (``agent_call``; the test makes the model slow), then waits an hour.
- ``e2e/race-job``: a competing fork whose quick branch wins over a branch running child-job.
"""

import os

import stigmer
from stigmer import Agent, Workflow, tasks

STATUS_API_BASE = os.environ.get("STATUS_API_BASE", "https://status.example.com")
MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")
CHILD_HOLD = 8


def main(ctx: stigmer.Context) -> None:
    helper = ctx.add(
        Agent(name="slow-helper", description="Answers slowly", instructions="Answer in one line.", model=MODEL)
    )
    child = Workflow(name="child-job", namespace="e2e", version="1.0.0", description="Start, hold, then post")
    child.add(
        tasks.http_get("start", endpoint=f"{STATUS_API_BASE}/v1/child/start"),
        tasks.wait("hold", duration=CHILD_HOLD),
        tasks.http_post("after", endpoint=f"{STATUS_API_BASE}/v1/child/after", body={"done": True}),
    )
    ctx.add(child)

    parent = Workflow(name="parent-job", namespace="e2e", version="1.0.0", description="Start children, then wait")
    parent.add(
        tasks.http_get("start", endpoint=f"{STATUS_API_BASE}/v1/parent/start"),
        tasks.fork(
            "children",
            branches=[
                tasks.run_workflow("child", child),
                tasks.agent_call("ask", agent=helper, message="Say something slowly"),
            ],
        ),
        tasks.wait("hold", duration="PT1H"),
    )
    ctx.add(parent)

    race = Workflow(name="race-job", namespace="e2e", version="1.0.0", description="A quick branch beats a child")
    race.add(
        tasks.fork(
            "race",
            compete=True,
            branches=[tasks.wait("quick", duration=1), tasks.run_workflow("slow", child)],
        ),
        tasks.set_vars("done", {"finished": True}),
    )
    ctx.add(race)


if __name__ == "__main__":
    stigmer.synthesize(main)
