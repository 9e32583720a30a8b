"""Which components to run: a selection closed under dependencies, and the order to start them in.

The runners need Temporal and stigmer-server; those two need nothing. Asking for a runner therefore
brings its dependencies along (``stigmer server start -c workflow-runner`` runs three components).
Components start in *waves*: every component of a wave starts at once, and a wave starts when the one
before is ready. They stop in the reverse order.
"""

from __future__ import annotations

from collections.abc import Iterable

from stigmer.config import COMPONENTS, ConfigError

SERVER = "stigmer-server"
TEMPORAL = "temporal"
WORKFLOW_RUNNER = "workflow-runner"
AGENT_RUNNER = "agent-runner"

NEEDS: dict[str, tuple[str, ...]] = {
    SERVER: (),
    TEMPORAL: (),
    WORKFLOW_RUNNER: (TEMPORAL, SERVER),
    AGENT_RUNNER: (TEMPORAL, SERVER),
}


def resolve(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` plus everything they need, in canonical start order; unknown names are an error."""
    wanted: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name not in NEEDS:
            raise ConfigError(f"unknown component {name!r}; known: {', '.join(COMPONENTS)}")
        if name not in wanted:
            wanted.add(name)
            pending.extend(NEEDS[name])
    return tuple(name for name in COMPONENTS if name in wanted)


def waves(names: Iterable[str]) -> list[tuple[str, ...]]:
    """``names`` (already resolved) grouped into start waves: a component comes after all it needs."""
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in level:
            level[name] = 1 + max((depth(need) for need in NEEDS[name]), default=-1)
        return level[name]

    ordered = list(names)
    for name in ordered:
        depth(name)
    top = max((level[name] for name in ordered), default=-1)
    grouped = [tuple(name for name in ordered if level[name] == wave) for wave in range(top + 1)]
    return [wave for wave in grouped if wave]
