"""Which model an agent runs with (see the package docstring for the precedence)."""

from __future__ import annotations


class NoModelError(Exception):
    pass


def choose_model(*, override: str | None, call_model: str = "", agent_model: str = "", inherited: str = "") -> str:
    """The per-call model, else ``override`` (STIGMER_LLM_MODEL), else the agent's, else the parent's."""
    for candidate in (call_model, override, agent_model, inherited):
        if candidate and candidate.strip():
            return candidate.strip()
    raise NoModelError("no model: the agent declares none and neither the call nor STIGMER_LLM_MODEL sets one")
