"""How each tier's pytest run is invoked: read by noxfile.py and by the benchmark (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    name: str
    # Wall-clock ceiling of the whole pytest run (pytest-timeout's --session-timeout: checked between
    # tests, so teardown and the JUnit report still happen), over the per-test timeout in pyproject.toml.
    timeout_s: int
    pytest_args: tuple[str, ...] = ()
    # pyproject.toml extras the tier's session installs beside `test`
    extras: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return f"tests/{self.name}"


TIERS = {
    tier.name: tier
    for tier in (
        Tier("unit", 600),
        Tier("smoke", 600),
        # one worker per core; loadfile keeps a module, and so its stack, on one worker
        Tier("apply", 900, ("-n", "2", "--dist", "loadfile")),
        Tier("full", 1200, ("-n", "2", "--dist", "loadfile"), ("local-llm",)),
        # one stack per scenario module; faults hold components down for a minute, so the ceiling is wide
        Tier("resilience", 1500, ("-n", "2", "--dist", "loadfile"), ("local-llm",)),
    )
}
