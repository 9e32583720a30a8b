"""Every component the daemon knows, by name (see :mod:`stigmer.daemon.selection` for their needs)."""

from __future__ import annotations

from collections.abc import Iterable

from stigmer.daemon.components import STIGMER_SERVER, Component
from stigmer.daemon.runners import AGENT_RUNNER, WORKFLOW_RUNNER
from stigmer.daemon.temporal import TEMPORAL

ALL: dict[str, Component] = {c.name: c for c in (STIGMER_SERVER, TEMPORAL, WORKFLOW_RUNNER, AGENT_RUNNER)}


def components(names: Iterable[str]) -> tuple[Component, ...]:
    """The components named (names were checked by :func:`stigmer.daemon.selection.resolve`)."""
    return tuple(ALL[name] for name in names)
