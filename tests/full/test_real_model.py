"""A real small model behind the Ollama API (``--llm=local``: SmolLM2-135M-Instruct on llama.cpp, tool
calls constrained by a JSON schema): the agent-runner's official ``ollama`` client against a model whose
words nobody scripts. The assertions are about structure, never wording: a non-empty answer that streams,
the phases in order, a tool call that reaches the MCP fixture and whose result the model answers from, a
sub-agent call, and an ``agent_call`` answer flowing into the next task. Skips without ``--llm=local``.

Few model calls on purpose (about ten, a few seconds each on one thread): the CPU is shared.
"""

from __future__ import annotations

import pytest

from stigmer.api.v1 import execution_pb2
from support import executions
from support.cli import Cli
from support.client import StackClient, to_dict
from support.fixtures.mcp_process import McpHttpServer
from support.llm import LlmUnderTest
from support.llm_local import LocalModelProcess
from support.llm_local.journal import ChatRecord
from support.output import run_lines
from support.stack import Stack
from support.strict import OUTSIDE_CELL_PREFIX
from tests.full.helpers import apply_project, run

NOT_CHOSEN = "--llm=local was not chosen"
pytestmark = [
    # decided at collection, so that no stack starts only to skip
    pytest.mark.skipif(
        'config.getoption("llm") != "local"',
        reason=f"{OUTSIDE_CELL_PREFIX}these tests run a real model: nox -s full -- --llm=local",
    ),
    pytest.mark.timeout(300),  # a few model turns each, on one thread of a shared CPU
]
DOCS_RESULT = "Docs about"  # what the MCP fixture's search_docs returns: "Docs about <query>"


@pytest.fixture(scope="module", autouse=True)
def real_model(llm: LlmUnderTest) -> LlmUnderTest:
    """The local real model (``start_llm`` skipped already when it cannot run here)."""
    assert llm.kind == "local", f"{NOT_CHOSEN}, yet the module runs: {llm.describe()}"
    return llm


@pytest.fixture
def local(real_model: LlmUnderTest) -> LocalModelProcess:
    assert real_model.local is not None
    return real_model.local


def answered_with(chats: list[ChatRecord], result: str) -> ChatRecord:
    """The chat whose last message is the tool result ``result`` (the turn that had to answer from it)."""
    wanted = {"role": "tool", "content": result}
    found = [chat for chat in chats if chat.messages and wanted.items() <= chat.messages[-1].items()]
    assert len(found) == 1, f"{len(found)} chats end with the tool result {result!r}: {chats}"
    return found[0]


@pytest.fixture(scope="module")
def deployed(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    report = apply_project(stack.cli(), "real_model", tmp_path_factory.mktemp("projects") / "real_model")
    return {row.name: row.id for row in report.rows}


def agent_texts(followed: executions.Followed) -> list[str]:
    """The text of the last agent message in each state that has one (how the answer grew)."""
    texts = []
    for state in followed.states:
        answers = [text for kind, text in executions.messages(state) if kind == "AGENT" and text]
        if answers:
            texts.append(answers[-1])
    return texts


def test_a_real_answer_streams_and_the_phases_come_in_order(
    api: StackClient, real_model: LlmUnderTest, deployed: dict[str, str]
) -> None:
    created = api.agent_executions.Create(
        execution_pb2.CreateAgentExecutionRequest(agent_ref="plain-answerer", message="Why is the sky blue?")
    )

    followed = executions.subscribe(api, created.metadata.id, timeout=120)

    assert followed.phases == ["PENDING", "IN_PROGRESS", "COMPLETED"], followed.phases
    texts = agent_texts(followed)
    assert texts and texts[-1].strip(), f"no answer: {executions.messages(followed.last)}"
    assert all(texts[-1].startswith(text) for text in texts), texts
    assert len(set(texts)) > 1, f"the answer arrived in one piece, not streamed: {texts}"
    assert followed.last["status"]["output"] == {"response": texts[-1]}
    assert real_model.real


def test_a_constrained_tool_call_reaches_the_mcp_fixture_and_its_result_the_answer(
    cli: Cli, api: StackClient, mcp_http: McpHttpServer, local: LocalModelProcess, deployed: dict[str, str]
) -> None:
    mark, seen = mcp_http.record.mark(), len(local.chats())

    result, exec_id = run(cli, "doc-finder", "-m", "release process", timeout=180)

    assert result.exit_code == 0, result
    (call,) = mcp_http.record.calls(mark)
    assert call[0] == "search_docs" and isinstance(call[1].get("query"), str), call
    execution = executions.get(api, exec_id)
    (reported,) = executions.tool_calls(execution)
    assert (reported["name"], reported["source"], reported["phase"]) == ("search_docs", "mcp:docs-search", "COMPLETED")
    assert DOCS_RESULT in reported["result"], reported
    kinds = [kind for kind, _ in executions.messages(execution)]
    assert kinds[0] == "HUMAN" and kinds[-1] == "AGENT", kinds
    answer = executions.messages(execution)[-1][1]
    assert answer.strip(), "no final answer after the tool call"
    chats = local.chats()[seen:]
    assert len(chats) == 2 and all(chat.constrained for chat in chats), chats
    assert [call["function"]["name"] for call in chats[0].tool_calls] == ["search_docs"]
    final = answered_with(chats, reported["result"])
    assert (final.content, final.tool_calls) == (answer, []), "the final answer is not the reply to the tool result"
    lines = run_lines(result.stdout)
    assert any(line.startswith("🔧 Tool: search_docs(") for line in lines), result
    assert lines[-1] == "Tool calls: 1", result


def test_a_lead_delegates_to_a_sub_agent_and_answers_from_its_reply(
    cli: Cli, api: StackClient, local: LocalModelProcess, deployed: dict[str, str]
) -> None:
    seen = len(local.chats())

    result, exec_id = run(cli, "docs-lead", "-m", "Where are the release process docs?", timeout=240)

    assert result.exit_code == 0, result
    execution = executions.get(api, exec_id)
    delegated, *inner = executions.tool_calls(execution)
    summary = (delegated["name"], delegated["source"], delegated["phase"])
    assert summary == ("doc-finder", "sub-agent:doc-finder", "COMPLETED"), summary
    assert delegated["result"].strip(), "the sub-agent gave no answer"
    # whatever tools the sub-agent chose, its calls are its own (under the lead's call) and ran to an end (a
    # real model may well pass a path that does not exist: the tool's error is then its result)
    assert all(call["id"].startswith(f"{delegated['id']}/") for call in inner), inner
    assert all(call["phase"] in ("COMPLETED", "FAILED") for call in inner), inner
    chats = local.chats()[seen:]
    if inner:  # the sub-agent's last tool result reached its last turn, whose reply is what the lead got
        assert answered_with(chats, inner[-1]["result"]).content == delegated["result"]
    lead_answer = executions.messages(execution)[-1][1]
    assert lead_answer.strip(), "the lead gave no final answer"
    assert answered_with(chats, delegated["result"]).content == lead_answer


def test_an_agent_call_answer_flows_into_the_next_task(cli: Cli, api: StackClient, deployed: dict[str, str]) -> None:
    result, exec_id = run(cli, "real-model/summarize-ticket", timeout=180)

    assert result.exit_code == 0, result
    execution = executions.get(api, exec_id)
    assert executions.task_phases(execution) == dict.fromkeys(["ticket", "summarize", "result"], "COMPLETED")
    assert executions.started_order(execution) == ["ticket", "summarize", "result"]
    summary = executions.task_outputs(execution)["summarize"]
    assert isinstance(summary, str) and summary.strip(), summary
    assert execution["status"]["output"] == {"summary": summary}
    (child,) = [to_dict(e) for e in api.list_agent_executions() if e.spec.parent_execution_id == exec_id]
    assert executions.execution_phase(child) == "COMPLETED"
    assert child["status"]["output"] == {"response": summary}
    assert child["status"]["messages"][0]["content"] == (
        "Summarize this ticket: The export button does nothing since the last update."
    )
