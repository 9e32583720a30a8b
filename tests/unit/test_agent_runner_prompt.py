"""Prompt building, model precedence and runtime env handling of the agent-runner (pure functions)."""

from __future__ import annotations

import pytest

from stigmer.agent_runner.env_values import MissingEnvError, Redactor, RuntimeEnv, expand, from_spec
from stigmer.agent_runner.model_choice import NoModelError, choose_model
from stigmer.agent_runner.prompt import first_messages, system_prompt
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.agent_pb2 import Skill
from stigmer.api.v1.common_pb2 import EnvVar


def test_system_prompt_has_instructions_skills_sub_agents_and_env_names_but_no_values() -> None:
    prompt = system_prompt(
        "Review code.",
        [Skill(name="style", description="House style", markdown="# Style\n- short lines\n")],
        env_names={"API_TOKEN": "s3cr3t-value", "REGION": "eu-west-1"},
        secret_names={"API_TOKEN"},
        sub_agents=[("summarizer", "Condenses findings")],
    )
    assert prompt.startswith("Review code.\n\n## Skill: style — House style\n\n# Style\n- short lines")
    assert "- summarizer: Condenses findings" in prompt
    assert "- API_TOKEN (secret, value hidden)\n- REGION" in prompt
    assert "s3cr3t-value" not in prompt
    assert "eu-west-1" not in prompt


def test_first_messages_are_system_then_user() -> None:
    assert first_messages("sys", "hi") == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    assert first_messages("sys", "") == [{"role": "system", "content": "sys"}]


@pytest.mark.parametrize(
    ("override", "call_model", "agent_model", "inherited", "expected"),
    [
        (None, "", "agent-m", "", "agent-m"),
        (None, "call-m", "agent-m", "", "call-m"),
        ("env-m", "call-m", "agent-m", "", "call-m"),
        ("env-m", "", "agent-m", "parent-m", "env-m"),
        (None, "", "", "parent-m", "parent-m"),
        ("", " ", "agent-m", "", "agent-m"),
    ],
)
def test_model_precedence_call_then_env_then_agent_then_parent(
    override: str | None, call_model: str, agent_model: str, inherited: str, expected: str
) -> None:
    assert choose_model(override=override, call_model=call_model, agent_model=agent_model, inherited=inherited) == (
        expected
    )


def test_no_model_at_all_is_an_error() -> None:
    with pytest.raises(NoModelError, match="no model"):
        choose_model(override=None)


def test_expand_replaces_env_references_inside_text() -> None:
    values = {"TOKEN": "abc", "HOST": "h"}
    assert expand("Bearer ${ $env.TOKEN }", values, "header") == "Bearer abc"
    assert expand("${$env.HOST}:${ $env.TOKEN }", values, "url") == "h:abc"
    assert expand("plain ${ .x }", values, "arg") == "plain ${ .x }"


def test_expand_names_the_missing_variable_and_how_to_give_it() -> None:
    with pytest.raises(
        MissingEnvError, match=r"MCP server 'gh' env GH reads \$\{ \$env.TOKEN \}.*--runtime-env TOKEN="
    ):
        expand("${ $env.TOKEN }", {}, "MCP server 'gh' env GH")


def test_redactor_hides_every_secret_value_longest_first() -> None:
    redact = Redactor(["abc", "abcdef", ""])
    assert redact("x abcdef y abc z") == "x *** y *** z"
    assert RuntimeEnv({"A": "one", "B": "two"}, frozenset({"B"})).redactor()("one two") == "one ***"


def test_runtime_env_from_spec_overlays_given_values_on_declared_defaults() -> None:
    declared = [EnvVar(name="REGION", default_value="us-east-1"), EnvVar(name="KEY", secret=True)]
    given = {"KEY": pb.RuntimeEnvValue(value="k1", secret=False), "EXTRA": pb.RuntimeEnvValue(value="e", secret=True)}
    env = from_spec(declared, given)
    assert dict(env.values) == {"REGION": "us-east-1", "KEY": "k1", "EXTRA": "e"}
    assert env.secret_names == {"KEY", "EXTRA"}
