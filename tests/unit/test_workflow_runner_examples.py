"""The workflows of examples 07-19 (as tests/apply/expected declares them) evaluate as their authors meant.

Calls are answered in memory (``FakeEffects``); what is checked is the interpreter's reading of each
example: which calls go out with which evaluated values, and what the workflow's data ends up holding.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from stigmer.workflow_runner.effects import CallRequest
from stigmer.workflow_runner.errors import error
from stigmer.workflow_runner.interpreter import Result
from tests.unit.test_workflow_runner_interpreter import FakeEffects, run

EXPECTED = Path(__file__).resolve().parents[1] / "apply" / "expected"


def example_tasks(example: str) -> list[dict[str, Any]]:
    (path,) = EXPECTED.glob(f"{example}_*.yaml")
    (workflow,) = yaml.safe_load(path.read_text())["workflows"].values()
    return workflow["spec"]["tasks"]


def answer(request: CallRequest) -> str:
    return f"answer to: {request.config['message']}"


def execute(example: str, handlers: dict[str, Any], **options: Any) -> tuple[Result, FakeEffects]:
    effects = FakeEffects(handlers)
    result = run(example_tasks(example), effects, **options)
    return result, effects


def test_07_basic_workflow() -> None:
    repo = {"full_name": "stigmer/stigmer", "stargazers_count": 1234, "open_issues_count": 56}
    result, effects = execute("07", {"fetch": repo})
    assert result.output == {"repository": "stigmer/stigmer", "stars": 1234, "open_issues": 56}
    (call,) = effects.calls
    assert call.config["headers"]["User-Agent"] == "stigmer-examples"
    assert call.config["timeout_seconds"] == 30


@pytest.mark.parametrize(
    ("health", "output", "skipped"),
    [
        ({"status": "healthy"}, {"id": "dep-1"}, {"hold", "abort"}),
        (
            {"status": "degraded", "message": "slow db"},
            {"decision": "hold", "reason": "service degraded: slow db"},
            {"deploy", "abort"},
        ),
        ({"status": "degraded"}, {"decision": "hold", "reason": "service degraded: no details"}, {"deploy", "abort"}),
    ],
)
def test_08_conditionals(health: dict[str, Any], output: Any, skipped: set[str]) -> None:
    result, effects = execute("08", {"health": health, "deploy": {"id": "dep-1"}})
    assert result.output == output
    assert {p for p, phase in effects.phases().items() if phase == "SKIPPED"} == skipped


def test_08_abort_raises_the_declared_error() -> None:
    result, _ = execute("08", {"health": {"status": "down"}})
    assert result.phase == "FAILED" and result.error is not None
    assert (result.error.type, result.error.status, result.error.title) == (
        "https://stigmer.ai/errors/unhealthy-service",
        503,
        "Service is unhealthy",
    )
    assert result.error.detail.startswith("The health check reported neither")


def test_09_loops() -> None:
    handlers: dict[str, Any] = {"orders": {"items": [{"id": "o-1"}, {"id": "o-2"}, {"id": "o-3"}]}}
    handlers |= {f"charge-all/{i}/charge": {"charged": True} for i in range(3)}
    result, effects = execute("09", handlers)
    assert result.output == {"charged": 3}
    assert [c.config["endpoint"] for c in effects.calls[1:]] == [
        f"https://payments.example.com/v1/orders/o-{i}/charge" for i in (1, 2, 3)
    ]
    assert effects.calls[0].config["query"] == {"status": "pending"}
    assert effects.sleeps == [1.0, 1.0, 1.0]


def test_10_error_handling_retries_the_same_call_with_backoff() -> None:
    answers: list[str] = []

    def busy_then(outcomes: list[str]) -> Any:
        def answer(request: CallRequest) -> Any:
            answers.append(request.key)
            if outcomes[len(answers) - 1] == "busy":
                raise error("communication", 503, "HTTP 503 Service Unavailable")
            return {"id": "ch-1"}

        return answer

    result, effects = execute("10", {"charge/submit": busy_then(["busy", "ok"])}, input={"amount": 1999})
    assert result.output == {"status": "charged", "amount": 1999}
    assert [c.config["body"] for c in effects.calls] == [{"amount": 1999, "currency": "usd"}] * 2
    assert answers == ["wex-1/charge/submit"] * 2  # one logical call: one idempotency key
    assert effects.sleeps == [2.0]

    answers.clear()
    result, effects = execute("10", {"charge/submit": busy_then(["busy"] * 3)}, input={"amount": 1999})
    assert result.phase == "FAILED"  # three attempts in all, then the error is not swallowed
    assert result.error is not None and result.error.status == 503
    assert len(answers) == 3 and effects.sleeps == [2.0, 4.0]

    result, _ = execute("10", {}, input={"amount": -5})
    assert result.error is not None and result.error.title == "Invalid amount"


def test_11_parallel_execution() -> None:
    async def slow(request: CallRequest) -> Any:
        await asyncio.sleep(0.05)
        return {"ok": True}

    handlers = {
        "gather/repo": {"stargazers_count": 7},
        "gather/issues": [{"number": 1}, {"number": 2}, {"number": 3}],
        "fastest-region/eu": slow,
        "fastest-region/us": {"ok": True},
    }
    result, effects = execute("11", handlers)
    assert result.output == {"stars": 7, "open_issues": 3}
    assert effects.statuses()["fastest-region"].output == {"us": {"ok": True}}
    assert effects.phases()["fastest-region/eu"] == "SKIPPED"


def test_13_shared_context() -> None:
    result, effects = execute("13", {"repos": [{"name": "cli"}, {"name": "sdk"}], "analyze": answer})
    assert result.output == "answer to: Summarize the recent activity of these repositories: cli, sdk"
    assert effects.calls[0].config["query"] == {"sort": "pushed", "per_page": 5}
    assert effects.statuses()["settings"].output == {"org": "stigmer", "max_repos": 5}


def test_14_runtime_secrets_are_left_to_the_activity() -> None:
    handlers = {"deployment": {"service": "checkout", "version": "2.4.0"}, "announce": {"ok": True}}
    secrets = ("DEPLOY_API_TOKEN", "SLACK_TOKEN")
    result, effects = execute("14", handlers, secret_names=secrets)
    assert result.phase == "COMPLETED"
    deployment, announce = effects.calls
    assert [(d.pointer, d.text) for d in deployment.deferred] == [
        (["headers", "Authorization"], "Bearer ${ $env.DEPLOY_API_TOKEN }")
    ]
    assert announce.config["body"] == {"channel": "#deployments", "text": "Deployed checkout 2.4.0"}
    assert [d.text for d in announce.deferred] == ["Bearer ${ $env.SLACK_TOKEN }"]


def test_15_workflow_calling_an_agent() -> None:
    issue = {"number": 1, "title": "Crash on start", "body": None}
    result, effects = execute("15", {"issue": issue, "summarize": answer})
    assert result.output == {
        "issue": 1,
        "summary": "answer to: Summarize this GitHub issue in three sentences: Crash on start - ",
    }
    assert effects.calls[1].config["agent"] == "issue-summarizer"


def test_16_agent_by_slug_with_a_text_response() -> None:
    result, effects = execute("16", {"diff": "diff --git a/x b/x", "review": answer})
    assert result.output == "answer to: Review this pull request diff: diff --git a/x b/x"
    assert effects.calls[1].config["agent"] == "code-reviewer"


def test_17_agent_with_runtime_secrets() -> None:
    result, effects = execute(
        "17", {"draft": "## Features", "publish": {"ok": True}}, secret_names=("GITHUB_TOKEN", "SLACK_TOKEN")
    )
    assert result.phase == "COMPLETED"
    draft, publish = effects.calls
    assert draft.config["env"] == {"GITHUB_TOKEN": None}
    assert [(d.pointer, d.text) for d in draft.deferred] == [(["env", "GITHUB_TOKEN"], "${ $env.GITHUB_TOKEN }")]
    assert draft.config["config"] == {"timeout_seconds": 300}
    assert publish.config["body"] == {"channel": "#releases", "text": "## Features"}


def test_18_multi_agent_orchestration() -> None:
    handlers = {
        "alert": {"id": "inc-9"},
        "triage": "sev2",
        "respond/diagnose": answer,
        "respond/announce": answer,
    }
    result, effects = execute("18", handlers)
    assert result.output == {
        "severity": "sev2",
        "root_cause": 'answer to: Find the root cause of: {"id":"inc-9"}',
        "status_update": "answer to: Write a status update for this incident: sev2",
    }
    assert effects.calls[1].config["message"] == 'Rate the severity of this alert: {"id":"inc-9"}'


def test_19_execution_config_is_passed_through() -> None:
    result, effects = execute("19", {"categorize": "login", "review": "ok", "announce": "hi"})
    assert result.output == "hi"
    assert [c.config["config"] for c in effects.calls] == [
        {"model": "llama3.2:1b", "temperature": 0.0, "timeout_seconds": 30},
        {"model": "llama3.2:1b", "temperature": 0.5, "timeout_seconds": 600},
        {"temperature": 0.9, "timeout_seconds": 120},
    ]
