"""Scenario 6: network faults on every link of the stack, through a loopback TCP proxy per link
(server↔Temporal, runners↔Temporal, runners↔server, agent-runner↔LLM, workflow-runner↔HTTP fixture):
latency with jitter, slicer, reset, down and timeout (blackhole), one after the other, each bounded,
while jobs run and more are created. Every execution ends, nothing lost or duplicated."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from urllib.parse import urlsplit

import pytest

from support.faults import Injector
from support.faults.network import LinkProxy
from support.fixtures.http_api import HttpApi
from support.llm_standin.process import StandinProcess
from support.pytest_plugin import register_stack
from support.stack import Stack, StackFactory
from support.waits import wait_until
from tests.resilience.harness import Scenario

LINKS = ("server-temporal", "runners-temporal", "runners-server", "agent-llm", "workflow-http")
# Each toxic, how long it lasts (seconds): bounded, one after the other.
TOXICS: dict[str, tuple[Callable[[LinkProxy, float], Injector], float]] = {
    "latency": (lambda p, s: p.latency(200, 50, max_seconds=s), 6.0),
    "slicer": (lambda p, s: p.slicer(64, 1.0, max_seconds=s), 6.0),
    "reset": (lambda p, s: p.reset_peer(0, max_seconds=s), 2.0),
    "down": (lambda p, s: p.down(max_seconds=s), 6.0),
    "timeout": (lambda p, s: p.timeout(max_seconds=s), 8.0),
}
CREATED_PER_TOXIC = 2


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@pytest.fixture(scope="module")
def links() -> dict[str, LinkProxy]:
    """The module's proxies by link name (the stack fixture starts them once it knows its ports)."""
    return {}


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    stack_factory: StackFactory,
    stack_components: tuple[str, ...],
    stack_env: Mapping[str, str],
    standin_process: StandinProcess,
    http_api: HttpApi,
    links: dict[str, LinkProxy],
) -> Iterator[Stack]:
    """A stack whose every link goes through a proxy: the dial addresses and base URLs point at them."""
    created = stack_factory.create("network", stack_components, stack_env)
    register_stack(request.node, created)
    upstreams = {
        "server-temporal": created.temporal_address,
        "runners-temporal": created.temporal_address,
        "runners-server": created.address,
        "agent-llm": _host_port(standin_process.url),
        "workflow-http": _host_port(http_api.url),
    }
    try:
        for name, upstream in upstreams.items():
            links[name] = LinkProxy(name, upstream).start()
        created.extra_env = {
            **created.extra_env,
            "STIGMER_SERVER_TEMPORAL_ADDR": links["server-temporal"].address,
            "STIGMER_RUNNER_TEMPORAL_ADDR": links["runners-temporal"].address,
            "STIGMER_RUNNER_SERVER_ADDR": links["runners-server"].address,
            "OLLAMA_HOST": links["agent-llm"].url,
            "SHOP_API_BASE": links["workflow-http"].url,
        }
        created.start()
        yield created
    finally:
        try:
            created.teardown()
        finally:
            for proxy in links.values():
                proxy.close()


@pytest.mark.parametrize("link", ["control", *LINKS])
def test_network_faults_on_a_link(scenario: Scenario, links: dict[str, LinkProxy], link: str) -> None:
    proxy = links.get(link)

    def toxics() -> None:
        assert proxy is not None
        proxy.ledger = scenario.ledger
        for name, (make, seconds) in TOXICS.items():
            fault = make(proxy, seconds).start()
            try:
                # jobs created while the link is bad
                for _ in range(CREATED_PER_TOXIC):
                    scenario.workload.create("agent" if link == "agent-llm" else "workflow")
                wait_until(lambda f=fault: not f.active, f"{name} on {link} did not end", timeout=seconds + 60)
            finally:
                fault.stop()
        scenario.notes["proxy"] = asdict(proxy.stats())

    scenario.run(toxics if proxy else None)

    # a job created while its link is down may fail (with a reason a user can act on): not lost
    scenario.assert_clean(all_completed=proxy is None)
    assert scenario.report is not None
    unclear = [f for f in scenario.report.of("failed") if not f.reason.strip() or f.reason.rstrip().endswith(":")]
    assert not unclear, unclear
    for name, each in links.items():
        assert each.stats().connections > 0, f"nothing went through the {name} proxy: the link is not proxied"
