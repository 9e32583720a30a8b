"""A workflow that reads the clock through the workflow-runner's own modules, for the sandbox test.

The runner's workflow code binds ``datetime`` at import; inside the sandbox that binding is the
sandbox's restricted one only when the module was imported in the sandbox (not passed through).
"""

from __future__ import annotations

from temporalio import workflow

from stigmer.workflow_runner import effects
from stigmer.workflow_runner import workflow as runner_workflow

PROBE_TYPE = "SandboxProbe"


@workflow.defn(name=PROBE_TYPE)
class SandboxProbe:
    @workflow.run
    async def run(self) -> dict[str, str]:
        """For each module, the error its ``datetime.now()`` raised in the sandbox ("" when it ran)."""
        caught: dict[str, str] = {}
        for name, module in (("effects", effects), ("workflow", runner_workflow)):
            try:
                module.datetime.now()
                caught[name] = ""
            except Exception as exc:  # the sandbox's RestrictedWorkflowAccessError
                caught[name] = type(exc).__name__
        return caught
