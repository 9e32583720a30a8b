"""``stigmer list agents`` against a server holding many agents (issue 5), timed as a user runs it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from stigmer.api.v1 import apply_pb2
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.common_pb2 import Metadata
from support.client import StackClient
from support.stack import Stack, StackError

AGENTS = 2000
BATCH = 200


@dataclass
class ListTimings:
    """Seconds per call of each listing command, and how long seeding the agents took."""

    agents: int
    seed_s: float
    text: list[float]
    json_all: list[float]


def seed_agents(client: StackClient, count: int = AGENTS, batch: int = BATCH) -> float:
    """Apply ``count`` agents through the API, ``batch`` per Apply call; the seconds it took."""
    began = time.monotonic()
    for first in range(0, count, batch):
        agents = [
            Agent(
                metadata=Metadata(name=f"bench-list-{n:05d}"),
                spec=AgentSpec(instructions=f"Agent number {n} of the listing benchmark.", model="llama3.2:1b"),
            )
            for n in range(first, min(first + batch, count))
        ]
        client.apply.Apply(apply_pb2.ApplyRequest(agents=agents), timeout=60)
    return time.monotonic() - began


def time_listings(stack: Stack, runs: int, count: int = AGENTS) -> ListTimings:
    """Seed ``count`` agents, then time ``stigmer list agents`` (its default page) and
    ``stigmer list agents -o json --limit <count>`` (every agent), ``runs`` times each."""
    with stack.client() as client:
        seed_s = seed_agents(client, count)
    cli = stack.cli()
    variants: dict[str, tuple[str, ...]] = {
        "text": ("list", "agents"),
        "json_all": ("list", "agents", "-o", "json", "--limit", str(count)),
    }
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, args in variants.items():
            result = cli(*args, timeout=60)
            if result.exit_code != 0:
                raise StackError(f"listing failed:\n{result}")
            if name == "json_all" and len(result.json().get("agents", [])) != count:
                raise StackError(f"stigmer {' '.join(args)} did not list {count} agents:\n{result.stdout[-500:]}")
            timings[name].append(result.duration)
    return ListTimings(count, seed_s, timings["text"], timings["json_all"])
