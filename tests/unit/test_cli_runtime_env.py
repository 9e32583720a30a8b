"""--runtime-env parsing: KEY=VAL, secret:KEY=VAL, and clear errors otherwise."""

from __future__ import annotations

import pytest

from stigmer.cli.runtime_env import MASK, RuntimeEnvError, RuntimeValue, parse_runtime_env


def test_plain_and_secret_values() -> None:
    parsed = parse_runtime_env(["REGION=eu-west-1", "secret:TOKEN=ghp=abc=", "EMPTY="])
    assert parsed == {
        "REGION": RuntimeValue("eu-west-1"),
        "TOKEN": RuntimeValue("ghp=abc=", secret=True),
        "EMPTY": RuntimeValue(""),
    }


def test_secret_value_is_never_shown() -> None:
    value = parse_runtime_env(["secret:TOKEN=hunter2"])["TOKEN"]
    assert "hunter2" not in repr(value)
    assert value.display() == MASK
    assert parse_runtime_env(["A=visible"])["A"].display() == "visible"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("NOVALUE", "is not KEY=VALUE or secret:KEY=VALUE"),
        ("=value", "is not a valid variable name"),
        ("1ABC=x", "is not a valid variable name"),
        ("MY-KEY=x", "is not a valid variable name"),
        ("secret:=x", "is not a valid variable name"),
    ],
)
def test_malformed_items_are_rejected(item: str, expected: str) -> None:
    with pytest.raises(RuntimeEnvError, match=expected):
        parse_runtime_env([item])


def test_error_for_a_secret_does_not_contain_its_value() -> None:
    with pytest.raises(RuntimeEnvError) as error:
        parse_runtime_env(["secret:BAD KEY=hunter2"])
    assert "hunter2" not in str(error.value)


def test_key_given_twice_is_an_error() -> None:
    with pytest.raises(RuntimeEnvError, match="given more than once"):
        parse_runtime_env(["A=1", "secret:A=2"])
