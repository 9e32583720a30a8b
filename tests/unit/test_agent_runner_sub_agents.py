"""Sub-agent plans: what an inline or stored sub-agent runs with."""

from __future__ import annotations

import asyncio

import pytest

from stigmer.agent_runner.env_values import RuntimeEnv
from stigmer.agent_runner.sub_agents import plan_inline, plan_stored, sub_agent_tools
from stigmer.agent_runner.tools import ToolError
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec, HttpServer, McpServer, Skill, SubAgent
from stigmer.api.v1.common_pb2 import EnvVar, Metadata

PARENT = AgentSpec(
    instructions="Lead.",
    model="parent-model",
    skills=[Skill(name="methods", markdown="# M"), Skill(name="other", markdown="# O")],
    mcp_servers=[McpServer(name="search", http=HttpServer(url="http://x"))],
)


def test_an_inline_sub_agent_gets_the_parents_model_and_only_what_it_names() -> None:
    sub = SubAgent(name="checker", instructions="Check.", skill_refs=["methods"], mcp_server_refs=["search"])
    plan = plan_inline(sub, PARENT, "effective-parent-model", override=None)
    assert (plan.model, plan.instructions) == ("effective-parent-model", "Check.")
    assert [s.name for s in plan.skills] == ["methods"]
    assert plan.parent_servers == ["search"]
    own = plan_inline(SubAgent(name="c", instructions="x", model="own-model"), PARENT, "p", override="stack-model")
    assert own.model == "stack-model"


def test_an_inline_sub_agent_naming_what_its_parent_lacks_is_refused() -> None:
    with pytest.raises(ToolError, match="names MCP server\\(s\\) web its parent does not have"):
        plan_inline(SubAgent(name="c", mcp_server_refs=["web"]), PARENT, "p", override=None)


def test_a_stored_sub_agent_runs_as_stored() -> None:
    stored = Agent(
        metadata=Metadata(name="formatter"),
        spec=AgentSpec(instructions="Format.", model="m1", mcp_servers=[McpServer(name="own")]),
    )
    plan = plan_stored(SubAgent(name="formatter", agent_ref="formatter"), stored, override=None)
    assert (plan.name, plan.instructions, plan.model) == ("formatter", "Format.", "m1")
    assert [s.name for s in plan.own_servers] == ["own"]


def test_sub_agent_tools_take_a_message_and_call_the_runner() -> None:
    calls: list[tuple[str, str, str]] = []

    async def run(sub: SubAgent, message: str, call_id: str) -> str:
        calls.append((sub.name, message, call_id))
        return "answer"

    (tool,) = sub_agent_tools([SubAgent(name="summarizer", description="Condenses")], run)
    assert (tool.name, tool.source, tool.description) == (
        "summarizer",
        "sub-agent:summarizer",
        "Delegate to the sub-agent summarizer: Condenses",
    )
    assert asyncio.run(tool.handler({"message": "Sum up"}, "call-1-0")) == "answer"
    assert calls == [("summarizer", "Sum up", "call-1-0")]
    with pytest.raises(ToolError, match="'message'"):
        asyncio.run(tool.handler({}, "call-1-1"))


def test_a_sub_agent_without_a_description_gets_the_one_given_for_it() -> None:
    async def run(sub: SubAgent, message: str, call_id: str) -> str:
        return "answer"

    subs = [SubAgent(agent_ref="formatter"), SubAgent(name="summarizer", description="Condenses")]
    tools = sub_agent_tools(subs, run, {"formatter": "Formats sources", "summarizer": "ignored"})
    assert [tool.description for tool in tools] == [
        "Delegate to the sub-agent formatter: Formats sources",
        "Delegate to the sub-agent summarizer: Condenses",
    ]


def test_a_stored_sub_agent_sees_only_its_declared_variables_with_its_secret_flags() -> None:
    stored = Agent(
        metadata=Metadata(name="deployer"),
        spec=AgentSpec(
            instructions="Deploy.",
            model="m1",
            env=[
                EnvVar(name="API_KEY", secret=True),
                EnvVar(name="REGION", default_value="us-east-1"),
                EnvVar(name="PARENT_SECRET"),
            ],
        ),
    )
    plan = plan_stored(SubAgent(agent_ref="deployer"), stored, override=None)
    assert plan.declared_env is not None
    parent = RuntimeEnv(
        {"API_KEY": "k-123456", "PARENT_SECRET": "p-654321", "PARENT_ONLY": "x-000000"},
        frozenset({"PARENT_SECRET", "PARENT_ONLY"}),
    )
    env = parent.for_declared(plan.declared_env)
    assert dict(env.values) == {"API_KEY": "k-123456", "REGION": "us-east-1", "PARENT_SECRET": "p-654321"}
    assert env.secret_names == {"API_KEY", "PARENT_SECRET"}
    assert env.redactor()("k-123456 p-654321 us-east-1") == "*** *** us-east-1"
