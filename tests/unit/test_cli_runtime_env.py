"""--runtime-env parsing: KEY=VAL, secret:KEY=VAL (any case), and errors that never echo a value."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stigmer.api.v1.agent_pb2 import AgentSpec
from stigmer.api.v1.common_pb2 import EnvVar
from stigmer.cli.app import cli
from stigmer.cli.runtime_env import (
    MASK,
    RuntimeEnvError,
    RuntimeValue,
    declared_secret_names,
    mark_declared_secrets,
    parse_runtime_env,
)


def test_plain_and_secret_values() -> None:
    parsed = parse_runtime_env(["REGION=eu-west-1", "secret:TOKEN=ghp=abc=", "EMPTY="])
    assert parsed == {
        "REGION": RuntimeValue("eu-west-1"),
        "TOKEN": RuntimeValue("ghp=abc=", secret=True),
        "EMPTY": RuntimeValue(""),
    }


@pytest.mark.parametrize("prefix", ["SECRET:", "Secret:", "sEcReT:"])
def test_the_secret_prefix_is_case_insensitive(prefix: str) -> None:
    assert parse_runtime_env([f"{prefix}TOKEN=hunter2"]) == {"TOKEN": RuntimeValue("hunter2", secret=True)}


def test_secret_value_is_never_shown() -> None:
    value = parse_runtime_env(["secret:TOKEN=hunter2"])["TOKEN"]
    assert "hunter2" not in repr(value)
    assert value.display() == MASK
    assert parse_runtime_env(["A=visible"])["A"].display() == "visible"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("NOVALUE", "'NOVALUE' is not KEY=VALUE or secret:KEY=VALUE"),
        ("secret:NOVALUE", "'secret:...' is not KEY=VALUE or secret:KEY=VALUE"),
        ("SECRET:hunter2", "'secret:...' is not KEY=VALUE or secret:KEY=VALUE"),
        ("=hunter2", "'' in '=...' is not a valid variable name"),
        ("1ABC=hunter2", "'1ABC' in '1ABC=...' is not a valid variable name"),
        ("MY-KEY=hunter2", "'MY-KEY' in 'MY-KEY=...' is not a valid variable name"),
        ("secret:=hunter2", "'' in 'secret:=...' is not a valid variable name"),
        ("SECRET:BAD KEY=hunter2", "'BAD KEY' in 'secret:BAD KEY=...' is not a valid variable name"),
        ("SECRET:TOKEN:hunter2", "'secret:...' is not KEY=VALUE"),
    ],
)
def test_malformed_items_are_rejected_without_their_value(item: str, expected: str) -> None:
    with pytest.raises(RuntimeEnvError) as error:
        parse_runtime_env([item])
    assert str(error.value).startswith(expected)
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize("item", ["SECRET:BAD KEY=hunter2", "Secret:1X=hunter2", "BAD-KEY=hunter2", "SECRET:hunter2"])
def test_the_command_line_error_never_echoes_the_value(item: str) -> None:
    result = CliRunner().invoke(cli, ["run", "x", "--runtime-env", item])
    assert result.exit_code == 2
    assert "--runtime-env" in result.stderr
    assert "hunter2" not in result.output


def test_key_given_twice_is_an_error() -> None:
    with pytest.raises(RuntimeEnvError, match="given more than once"):
        parse_runtime_env(["A=1", "secret:A=2"])


def test_a_value_of_a_declared_secret_is_secret_however_it_is_given() -> None:
    spec = AgentSpec(env=[EnvVar(name="TOKEN", secret=True), EnvVar(name="REGION")])
    assert declared_secret_names(spec) == {"TOKEN"}
    given = parse_runtime_env(["TOKEN=hunter2", "REGION=eu"])
    marked = mark_declared_secrets(given, declared_secret_names(spec))
    assert marked == {"TOKEN": RuntimeValue("hunter2", secret=True), "REGION": RuntimeValue("eu")}
    assert "hunter2" not in repr(marked)
