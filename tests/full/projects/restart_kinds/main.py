"""One workflow per task kind, each holding inside that kind long enough for the full tier to SIGKILL
the workflow-runner while the task is in progress (test_runner_restart.py)."""

import stigmer
from stigmer import Agent, Workflow, expr, tasks

HOLD = "PT6S"  # long enough for a kill to land inside it, short enough for the tier's time


def workflow(name: str, description: str) -> Workflow:
    return Workflow(name=name, namespace="restart", version="1.0.0", description=description)


def main(ctx: stigmer.Context) -> None:
    helper = ctx.add(Agent(name="restart-helper", model="llama3.2:1b", instructions="Answer in one short sentence."))

    waits = workflow("wait-kind", "A durable wait between two sets")
    waits.add(
        tasks.set_vars("before", {"x": 1}),
        tasks.wait("hold", HOLD),
        tasks.set_vars("after", {"x": expr(".before.x + 1")}),
    )

    forks = workflow("fork-kind", "A fork whose slow branch waits")
    forks.add(
        tasks.fork("split", branches=[tasks.wait("hold", HOLD), tasks.set_vars("quick", {"b": 2})]),
        tasks.set_vars("after", {"joined": True}),
    )

    loops = workflow("for-kind", "A loop whose first iteration waits")
    loops.add(
        tasks.for_each(
            "loop",
            "${ [1, 2] }",
            [
                tasks.wait("hold", HOLD, condition="${ $index == 0 }"),
                tasks.set_vars("square", {"v": expr("$item * $item")}),
            ],
        ),
        tasks.set_vars("after", {"looped": True}),
    )

    switches = workflow("switch-kind", "A switch that routes to a waiting task")
    switches.add(
        tasks.set_vars("pick", {"go": "slow"}),
        tasks.switch("route", [tasks.case('.pick.go == "slow"', "hold"), tasks.default("fast")]),
        tasks.set_vars("fast", {"path": "fast"}, then="end"),
        tasks.wait("hold", HOLD),
        tasks.set_vars("slow", {"path": "slow"}),
    )

    tries = workflow("try-kind", "A try whose body waits, then fails into its catch")
    tries.add(
        tasks.try_catch(
            "guard",
            [
                tasks.wait("hold", HOLD),
                tasks.raise_error("boom", "https://stigmer.ai/errors/restart", 503, "Boom"),
            ],
            catch_do=[tasks.set_vars("recovered", {"status": expr("$error.status")})],
        ),
        tasks.set_vars("after", {"caught": True}),
    )

    child = workflow("child-hold", "The child a run task waits for")
    child.add(tasks.wait("hold", HOLD), tasks.set_vars("out", {"child": True}))
    runs = workflow("run-kind", "A run task of a child workflow that waits")
    runs.add(tasks.run_workflow("sub", child), tasks.set_vars("after", {"ran": True}))

    agents = workflow("agent-call-kind", "An agent call the LLM answers slowly")
    agents.add(
        tasks.agent_call("ask", agent=helper, message="restart-probe: say hello"),
        tasks.set_vars("after", {"asked": True}),
    )

    for each in (waits, forks, loops, switches, tries, child, runs, agents):
        ctx.add(each)


if __name__ == "__main__":
    stigmer.synthesize(main)
