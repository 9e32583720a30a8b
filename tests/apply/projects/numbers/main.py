"""A workflow whose task config holds integers a double cannot keep apart (2**53 + 1) next to small ones."""

import stigmer
from stigmer import Workflow, tasks


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(name="e2e-numbers", namespace="e2e", version="1.0.0")
    workflow.add(tasks.set_vars("init", {"big": 9007199254740993, "one": 1, "half": 0.5, "flag": True}))
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
