"""Labels on every container a stack starts (the agent-runner in docker mode, docker MCP servers).

They let ``stigmer server stop`` find the containers of its home, and the test pipeline's sweep find
the containers of runs that were killed before they could clean up (``STIGMER_E2E_RUN_ID``).
"""

from __future__ import annotations

from collections.abc import Mapping

HOME = "io.stigmer.home"
COMPONENT = "io.stigmer.component"
RUN_ID = "io.stigmer.e2e-run-id"
RUN_ID_ENV = "STIGMER_E2E_RUN_ID"


def container_labels(home: str, component: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The labels of a container ``component`` of the stack at ``home`` starts."""
    labels = {HOME: home, COMPONENT: component}
    run_id = environ.get(RUN_ID_ENV)
    if run_id:
        labels[RUN_ID] = run_id
    return labels
