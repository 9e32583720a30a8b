"""support.pytest_plugin: missing prerequisites skip (optional) or fail (required) with their message."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.prereqs import CheckContext, Prerequisite
from support.pytest_plugin import mark_tier, require


@dataclass
class FakeConfig:
    stash: pytest.Stash = field(default_factory=pytest.Stash)

    def getoption(self, name: str) -> None:
        return None


def _prereq(optional: bool, present: bool = False) -> Prerequisite:
    return Prerequisite(
        name=f"docker engine ({'optional' if optional else 'required'})",
        needed_by="tests/full docker runner tests: the agent-runner runs in a container",
        provide=("apt-get install -y docker.io",),
        without="pytest tests/full --runner=process",
        check=lambda context: (present, "no engine at /var/run/docker.sock"),
        optional=optional,
    )


def test_missing_optional_prerequisite_skips_with_the_four_parts() -> None:
    with pytest.raises(pytest.skip.Exception) as info:
        require(FakeConfig(), [_prereq(optional=True)])  # type: ignore[arg-type]
    message = str(info.value)
    for part in ("Missing: docker engine", "Needed by:", "Provide it:", "Without it: pytest tests/full --runner"):
        assert part in message


def test_missing_required_prerequisite_fails() -> None:
    with pytest.raises(pytest.fail.Exception, match="Missing: docker engine"):
        require(FakeConfig(), [_prereq(optional=False)])  # type: ignore[arg-type]


def test_present_prerequisites_pass_and_are_checked_once() -> None:
    calls: list[CheckContext] = []
    prereq = Prerequisite("x", "y", ("z",), "w", check=lambda context: (calls.append(context), (True, "ok"))[1])
    config = FakeConfig()
    require(config, [prereq])  # type: ignore[arg-type]
    require(config, [prereq])  # type: ignore[arg-type]
    assert len(calls) == 1


@dataclass
class FakeItem:
    path: Path
    markers: list[str] = field(default_factory=list)

    def add_marker(self, marker: str) -> None:
        self.markers.append(marker)


def test_mark_tier_marks_only_the_tiers_own_tests(tmp_path: Path) -> None:
    inside, outside = FakeItem(tmp_path / "smoke" / "test_a.py"), FakeItem(tmp_path / "apply" / "test_b.py")
    mark_tier([inside, outside], tmp_path / "smoke", "smoke")  # type: ignore[list-item]
    assert (inside.markers, outside.markers) == (["smoke"], [])
