"""Client-side validation of synthesized resources, before anything is sent to the server."""

from __future__ import annotations

from stigmer.api.validation import validate_agent, validate_workflow
from stigmer.cli.synthesis import Synthesis


def validate_synthesis(synthesis: Synthesis) -> None:
    """Raise the first resource's :class:`stigmer.api.validation.ValidationError`, if any.

    References between resources (agent_call, run) are checked for shape only; the server checks
    that they exist.
    """
    for agent in synthesis.agents:
        validate_agent(agent)
    for workflow in synthesis.workflows:
        validate_workflow(workflow)
