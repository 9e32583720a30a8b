"""The SDK's agent builders: the messages they produce and the errors they raise early."""

from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict

import stigmer
from stigmer import Agent, EnvVar, McpServer, Skill, SubAgent, ValidationError
from stigmer.api import validation
from stigmer.api.v1 import agent_pb2


def _agent(**fields: object) -> Agent:
    return Agent(**{"name": "helper", "instructions": "Help.", "model": "llama3.2:1b", **fields})


def test_agent_builds_the_agent_message_with_every_field() -> None:
    agent = _agent(
        description="Helps",
        icon_url="https://example.com/i.png",
        skills=[Skill(name="style", markdown="# Style", description="House style")],
        mcp_servers=[
            McpServer.stdio("gh", command="npx", args=["-y", "gh"], env={"T": "${ $env.T }"}, enabled_tools=["a"]),
            McpServer.http("docs", url="https://docs.example.com/mcp", headers={"X": "1"}, timeout_seconds=5),
            McpServer.docker("fs", image="mcp/fs:1", args=["/w"], env={"L": "info"}, volumes=["/a:/w"], network="n"),
        ],
        sub_agents=[SubAgent(name="checker", instructions="Check.", skills=["style"], mcp_servers=["gh"])],
        env=[EnvVar("T", secret=True, required=True, description="token"), EnvVar("REGION", default="eu")],
    )

    data = MessageToDict(agent.to_proto(), preserving_proto_field_name=True)

    assert data["metadata"] == {"name": "helper"}
    spec = data["spec"]
    assert spec["description"] == "Helps"
    assert spec["icon_url"] == "https://example.com/i.png"
    assert spec["skills"] == [{"name": "style", "markdown": "# Style", "description": "House style"}]
    assert spec["mcp_servers"][0] == {
        "name": "gh",
        "stdio": {"command": "npx", "args": ["-y", "gh"], "env": {"T": "${ $env.T }"}},
        "enabled_tools": ["a"],
    }
    assert spec["mcp_servers"][1]["http"] == {
        "url": "https://docs.example.com/mcp",
        "headers": {"X": "1"},
        "timeout_seconds": 5,
    }
    assert spec["mcp_servers"][2]["docker"] == {
        "image": "mcp/fs:1",
        "args": ["/w"],
        "env": {"L": "info"},
        "volumes": ["/a:/w"],
        "network": "n",
    }
    assert spec["sub_agents"] == [
        {"name": "checker", "instructions": "Check.", "skill_refs": ["style"], "mcp_server_refs": ["gh"]}
    ]
    assert spec["env"] == [
        {"name": "T", "secret": True, "required": True, "description": "token"},
        {"name": "REGION", "default_value": "eu"},
    ]


def test_invalid_name_is_rejected_naming_the_name_field() -> None:
    with pytest.raises(ValidationError, match=r"metadata\.name: 'Bad_Name' is not a valid name"):
        _agent(name="Bad_Name")


def test_missing_model_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"spec\.model: model is required"):
        Agent(name="helper", instructions="Help.")


def test_missing_instructions_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"spec\.instructions: instructions are required"):
        Agent(name="helper", model="m")


def test_validation_error_is_the_shared_one() -> None:
    assert stigmer.ValidationError is validation.ValidationError


def test_sub_agent_reference_to_an_unknown_skill_is_rejected_by_the_agent() -> None:
    sub = SubAgent(name="checker", instructions="Check.", skills=["missing"])
    with pytest.raises(ValidationError, match=r"spec\.sub_agents\[0\]\.skill_refs: unknown skill 'missing'"):
        _agent(sub_agents=[sub])


def test_sub_agent_ref_points_at_a_stored_agent() -> None:
    other = _agent(name="other")
    assert SubAgent.ref(other).to_proto().agent_ref == "other"
    assert SubAgent.ref("by-slug").to_proto().name == "by-slug"
    with pytest.raises(ValidationError, match="agent_ref"):
        SubAgent.ref("Not A Slug")


def test_duplicate_skill_names_are_rejected() -> None:
    skill = Skill(name="style", markdown="x")
    with pytest.raises(ValidationError, match=r"spec\.skills\[1\]\.name: duplicate skill name 'style'"):
        _agent(skills=[skill, skill])


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Skill(name="style", markdown="  "), "markdown: skill content is required"),
        (lambda: Skill(name="", markdown="x"), "name: skill name is required"),
        (lambda: McpServer.stdio("gh", command=""), "stdio.command: command is required"),
        (lambda: McpServer.http("docs", url="docs.example.com"), "http.url: 'docs.example.com' is not an http"),
        (lambda: McpServer.docker("fs", image=""), "docker.image: image is required"),
        (lambda: McpServer(name="x", transport="smoke"), "transport: 'smoke' is not one of"),
        (lambda: SubAgent(name="checker"), "instructions: instructions are required"),
        (lambda: EnvVar("1TOKEN"), "name: '1TOKEN' is not a valid environment variable name"),
    ],
)
def test_parts_are_validated_when_built(build: object, field: str) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.").replace("(", r"\(")):
        build()  # type: ignore[operator]


def test_parts_of_the_wrong_type_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"skills\[0\]: expected a Skill"):
        _agent(skills=["style"])


def test_env_var_ref_is_a_runtime_expression() -> None:
    assert EnvVar("SLACK_TOKEN", secret=True).ref == "${ $env.SLACK_TOKEN }"
    assert stigmer.env_ref("X") == "${ $env.X }"


def test_skill_from_file_reads_the_markdown_and_names_it_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "api-style.md"
    path.write_text("# API style\n", encoding="utf-8")

    skill = Skill.from_file(path, description="How APIs look")

    assert skill.to_proto() == agent_pb2.Skill(name="api-style", markdown="# API style\n", description="How APIs look")
    assert Skill.from_file(path, name="style").to_proto().name == "style"


def test_instructions_from_file_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "reviewer.md"
    path.write_text("Review carefully.\n", encoding="utf-8")
    assert stigmer.instructions_from_file(path) == "Review carefully.\n"
