"""Every JSON value a user declares reads back exactly: integers stay integers (even past 2**53), and
``get -o json`` prints the same bytes every time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.cli import Cli
from support.client import StackClient, ref, to_dict

PROJECTS = Path(__file__).parent / "projects"
BIG = 9007199254740993  # 2**53 + 1: a double reads it back as ...992
DECLARED = {"big": BIG, "one": 1, "half": 0.5, "flag": True}


def _exact(values: Any) -> list[str]:
    """How ``values`` differs from ``DECLARED`` in value or JSON type (``1`` vs ``1.0``, ``True`` vs ``1``)."""
    if not isinstance(values, dict) or list(values) != list(DECLARED):
        return [f"keys {list(values) if isinstance(values, dict) else values!r}, declared {list(DECLARED)}"]
    return [
        f"{key}: {values[key]!r} ({type(values[key]).__name__}), declared {want!r} ({type(want).__name__})"
        for key, want in DECLARED.items()
        if type(values[key]) is not type(want) or values[key] != want
    ]


def test_integers_read_back_exactly_through_the_cli_and_the_api(
    cli: Cli, api: StackClient, project: Callable[..., Path], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("numbers")
    folder = project(PROJECTS / "numbers", {'name="e2e-numbers"': f'name="{name}"'})
    applied = cli("apply", "--config", folder)
    assert applied.exit_code == 0, applied

    got = cli("get", "workflow", f"e2e/{name}", "-o", "json")
    assert got.exit_code == 0, got
    assert str(BIG) in got.stdout, f"the CLI does not print {BIG} as declared:\n{got}"
    from_cli = json.loads(got.stdout)["spec"]["tasks"][0]["config"]["set"]
    assert not _exact(from_cli), f"get -o json: {_exact(from_cli)}"

    stored = api.workflows.Get(ref(f"e2e/{name}"))
    raw = json.loads(stored.spec.tasks[0].config_json)["set"]
    assert not _exact(raw), f"the API's config_json: {_exact(raw)}"
    assert not _exact(to_dict(stored)["spec"]["tasks"][0]["config"]["set"]), "the API's resource as a dict"


def test_get_json_prints_the_same_bytes_every_time(
    cli: Cli, project: Callable[..., Path], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("numbers")
    folder = project(PROJECTS / "numbers", {'name="e2e-numbers"': f'name="{name}"'})
    applied = cli("apply", "--config", folder)
    assert applied.exit_code == 0, applied

    outputs = [cli("get", "workflow", f"e2e/{name}", "-o", "json") for _ in range(3)]
    assert all(out.exit_code == 0 for out in outputs), outputs
    assert outputs[0].stdout == outputs[1].stdout == outputs[2].stdout, (
        "three identical `get workflow -o json` calls printed different output:\n"
        + "\n".join(out.stdout for out in outputs)
    )
