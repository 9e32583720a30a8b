"""A stack this run does not own: an existing installation at ``--server-addr`` / ``--temporal-addr``.

``RemoteStack`` has the ``Stack`` interface the tests use to reach a stack (``cli``, ``client``,
``address``, ``temporal_address``, ``wait_serving``), pointed at the remote addresses, with a client
folder of its own as the CLI's ``STIGMER_HOME`` (it holds only the client token, when one was given).
What needs a stack this run started (its home, logs, pid files, ``server start|stop|status``, kills)
raises ``NotOwnedError``, naming the marker that makes such a test skip instead. Teardown deletes what
the module's CLI calls created (executions first, then agents and workflows), and nothing else: other
users of the shared server keep theirs.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NoReturn

import grpc
import psutil

from stigmer.api.v1 import common_pb2
from support.cli import Cli, CliResult, isolated_env
from support.client import StackClient, ref, wait_serving
from support.output import parse_apply
from support.processes import label_env
from support.stack import PidRecord, Stack, StackError
from support.target import OWNED_STACK_MARK, Target
from support.touched_executions import execution_ids, texts_of

CLEANUP_TIMEOUT = 10.0


class NotOwnedError(StackError):
    """A test reached for something only a stack this run started has (and was not marked to skip)."""


@dataclass
class RemoteStack(Stack):
    """An existing installation, reached at ``target``'s addresses; ``root`` is this run's client folder."""

    target: Target = field(default_factory=Target)
    histories: list[list[CliResult]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.client_home.mkdir(parents=True, exist_ok=True)
        if self.target.client_token_file is not None:
            copied = shutil.copy(self.target.client_token_file, self.client_home / "client.token")
            Path(copied).chmod(0o600)

    @property
    def client_home(self) -> Path:
        return self.root / "client"

    @property
    def address(self) -> str:
        return self.target.server

    @property
    def temporal_address(self) -> str:
        return self.target.temporal

    def env(self) -> dict[str, str]:
        """The CLI's environment: the remote addresses, and the client folder as its STIGMER_HOME."""
        env = isolated_env()
        env.update(
            STIGMER_HOME=str(self.client_home),
            STIGMER_SERVER_ADDR=self.address,
            STIGMER_TEMPORAL_ADDR=self.temporal_address,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return label_env(env, self.run_id)

    def cli(self, history: list[CliResult] | None = None) -> Cli:
        chosen = self.history if history is None else history
        if not any(known is chosen for known in self.histories):
            self.histories.append(chosen)
        return Cli(self.binary, self.env(), history=chosen)

    def client(self) -> StackClient:
        return StackClient(self.address, home=self.client_home)

    def wait_serving(self, timeout: float) -> None:
        wait_serving(self.address, timeout=timeout)

    def assert_alive(self) -> None:
        """Nothing to watch: the remote processes are not ours (waits end by their timeout)."""

    def _not_owned(self, what: str) -> NoReturn:
        raise NotOwnedError(
            f"stack {self.name!r} is the remote installation at {self.address}: {what} needs a stack this run "
            f'owns. Mark the test @pytest.mark.needs("{OWNED_STACK_MARK}") so that it skips on --target remote.'
        )

    @property
    def home(self) -> Path:
        self._not_owned("the stack's STIGMER_HOME")

    def start(self) -> CliResult:
        self._not_owned("`stigmer server start`")

    def stop(self, check: bool = True) -> CliResult:
        self._not_owned("`stigmer server stop`")

    def status(self) -> CliResult:
        self._not_owned("`stigmer server status` (it reads the stack's home)")

    def pid_record(self, component: str = "stigmer-server") -> PidRecord | None:
        self._not_owned(f"the pid file of {component}")

    def kill_server(self, sig: int = signal.SIGKILL) -> int:
        self._not_owned("killing stigmer-server")

    def supervised_state(self, component: str) -> str | None:
        self._not_owned("the supervisor's state file")

    def labelled(self) -> list[psutil.Process]:
        self._not_owned("the stack's processes")

    def log_paths(self) -> dict[str, Path]:
        self._not_owned("the component logs")

    def tail(self, lines: int = 0) -> str:
        return f"(the logs of the remote installation at {self.address} are not readable from this run)"

    def teardown(self) -> list[int]:
        """Delete what this module's CLI calls created on the shared server; raises when a delete fails."""
        calls = [call for history in self.histories for call in history]
        problems = delete_created(self.client, calls)
        if problems:
            raise StackError(f"stack {self.name!r}: cleaning up on {self.address} failed:\n" + "\n".join(problems))
        return []


def created_resources(calls: Iterable[CliResult]) -> list[tuple[str, str]]:
    """(kind, ID) of every agent and workflow a successful ``apply`` in ``calls`` reported Created."""
    found: list[tuple[str, str]] = []
    for call in calls:
        if not call.args or call.args[0] != "apply" or call.exit_code != 0 or "--dry-run" in call.args:
            continue
        try:
            report = parse_apply(call.stdout)
        except AssertionError:
            continue
        found += [(row.kind, row.id) for row in report.rows if row.action == "Created" and row.id]
    return list(dict.fromkeys(found))


def delete_created(connect: Callable[[], StackClient], calls: list[CliResult]) -> list[str]:
    """Delete the executions ``calls`` named, then the agents and workflows they created; the failures."""
    problems: list[str] = []
    with connect() as api:
        deletes: list[tuple[str, Callable[[], object]]] = []
        for execution_id in execution_ids(texts_of(calls)):
            service = api.workflow_executions if execution_id.startswith("wex-") else api.agent_executions
            deletes.append((execution_id, partial(service.Delete, ref(execution_id), timeout=CLEANUP_TIMEOUT)))
        for kind, resource_id in created_resources(calls):
            stub = api.agents if kind == "agent" else api.workflows
            request = common_pb2.DeleteRequest(ref=resource_id, force=True)
            deletes.append((resource_id, partial(stub.Delete, request, timeout=CLEANUP_TIMEOUT)))
        for resource_id, delete in deletes:
            try:
                delete()
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:  # the test deleted it itself
                    problems.append(f"delete {resource_id}: {exc.code().name}: {exc.details()}")
    return problems
