"""How each tier's pytest run is invoked: read by noxfile.py and by the benchmark (stdlib only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from support.known_infra_errors import rerun_args


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

    @property
    def env(self) -> dict[str, str]:
        """Environment of the tier's pytest run (beside the caller's)."""
        return {"STIGMER_E2E_TIER": self.name, "PYTHONDONTWRITEBYTECODE": "1"}

    def pytest_args_for(self, junitxml: Path, suite_name: str, extra: Sequence[str] = ()) -> list[str]:
        """The arguments of ``python -m pytest`` for one run of the tier, ``extra`` (posargs) last.

        With no test path among ``extra`` the tier's directory is collected (it is pytest's
        ``testpaths``); a path or node ID inside the tier narrows the run to it. A failure matching a
        known infrastructure error (ci/known-infra-errors.txt) is rerun once, and reported as such.
        """
        return [
            "-o",
            f"testpaths={self.path}",
            # pytest-timeout stops the run between tests, so teardown and the JUnit report still happen
            f"--session-timeout={self.timeout_s}",
            f"--junitxml={junitxml}",
            "-o",
            f"junit_suite_name={suite_name}",
            *rerun_args(),
            *self.pytest_args,
            *extra,
        ]


TIERS = {
    tier.name: tier
    for tier in (
        # about 10 min alone on 2 cores; 900 s was passed at load 12-14
        Tier("unit", 1200, extras=("local-llm", "report")),  # SmolLM2 (15 s); the HTML report
        # one worker per core; loadfile keeps a module, and so its stack, on one worker
        Tier("smoke", 600, ("-n", "2", "--dist", "loadfile")),
        Tier("apply", 900, ("-n", "2", "--dist", "loadfile")),
        Tier("full", 1200, ("-n", "2", "--dist", "loadfile"), ("local-llm",)),
        # one stack per scenario module; faults hold components down for a minute, so the ceiling is wide
        Tier("resilience", 1500, ("-n", "2", "--dist", "loadfile"), ("local-llm",)),
    )
}

# The tiers whose session provisions a Docker engine and the images when given `--runner=docker`.
DOCKER_TIERS = ("full", "resilience")


def runner_choice(pytest_args: Sequence[str]) -> str | None:
    """The value of ``--runner`` among pytest arguments (``--runner=docker`` or ``--runner docker``)."""
    for index, arg in enumerate(pytest_args):
        if arg.startswith("--runner="):
            return arg.split("=", 1)[1]
        if arg == "--runner" and index + 1 < len(pytest_args):
            return pytest_args[index + 1]
    return None
