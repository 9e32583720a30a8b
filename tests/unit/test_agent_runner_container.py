"""The agent-runner in docker mode: its container's description, the keeper, the removal of leftovers.

The keeper tests run a real container on the engine at DOCKER_HOST, of the agent-runner image
(``$STIGMER_E2E_AGENT_RUNNER_IMAGE``) with a stand-in entrypoint (a few lines of Python), so they need
neither Temporal nor a server; without an engine or the image they skip with the four-part message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stigmer import container_labels
from stigmer.config import Settings
from stigmer.daemon import containers
from stigmer.daemon.container_keeper import SPEC_ENV, ContainerSpec
from stigmer.daemon.errors import DaemonError
from stigmer.daemon.runners import AGENT_RUNNER, container_spec
from support.prereqs import CheckContext
from support.runner_mode import DOCKER_RUNNER, runner_image
from support.waits import eventually

RUN_ID = "4242-1700000000000-unit"


def docker_settings(home: Path, image: str = "") -> Settings:
    return Settings(home=home, agent_runner_mode="docker", agent_runner_image=image)


def test_the_container_gets_the_runner_environment_without_host_paths_or_the_callers_variables(
    tmp_path: Path,
) -> None:
    socket_path = tmp_path / "engine.sock"
    socket_path.touch()
    environ = {
        "PATH": "/host/bin",
        "HOME": "/root",
        "TMPDIR": "/host/tmp",
        "PYTHONPATH": "/checkout",
        "LANG": "C.UTF-8",
        "AWS_SECRET_ACCESS_KEY": "not for the runner",
        "DOCKER_HOST": f"unix://{socket_path}",
        "STIGMER_E2E_RUN_ID": RUN_ID,
    }
    spec = container_spec(docker_settings(tmp_path, "my/runner:1"), environ, "agent-runner")

    assert spec.image == "my/runner:1"
    assert not {"PATH", "HOME", "TMPDIR", "PYTHONPATH", "AWS_SECRET_ACCESS_KEY"} & set(spec.env)
    assert spec.env["LANG"] == "C.UTF-8" and spec.env["STIGMER_HOME"] == str(tmp_path)
    assert spec.env["DOCKER_HOST"] == f"unix://{socket_path}"
    assert spec.env["STIGMER_READY_FILE"] == spec.inner_ready_file != spec.ready_file
    assert spec.mounts == {str(tmp_path): str(tmp_path), str(socket_path): str(socket_path)}
    assert spec.labels == {
        container_labels.HOME: str(tmp_path),
        container_labels.COMPONENT: "agent-runner",
        container_labels.RUN_ID: RUN_ID,
    }
    assert spec.user == f"{os.getuid()}:{os.getgid()}"


def test_the_default_image_is_named_after_the_version(tmp_path: Path) -> None:
    from stigmer import __version__

    assert docker_settings(tmp_path).agent_runner_image_ref == f"stigmer-agent-runner:{__version__}"


def test_the_image_is_a_setting_of_the_environment_and_config_yaml(tmp_path: Path) -> None:
    from stigmer.config import load_settings

    (tmp_path / "config.yaml").write_text("agent_runner_image: from/config:2\n")
    assert load_settings({"STIGMER_HOME": str(tmp_path)}).agent_runner_image_ref == "from/config:2"
    env = {"STIGMER_HOME": str(tmp_path), "STIGMER_AGENT_RUNNER_IMAGE": "from/env:3"}
    assert load_settings(env).agent_runner_image_ref == "from/env:3"


# --- with a real engine -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine_env() -> dict[str, str]:
    """The environment naming the engine (DOCKER_HOST); skips when it or the runner image is absent."""
    present, detail = DOCKER_RUNNER.check(CheckContext())
    if not present:
        from support.prereqs import missing_message

        pytest.skip(missing_message(DOCKER_RUNNER, detail))
    return {name: value for name, value in os.environ.items() if name.startswith("DOCKER_")}


@pytest.fixture
def engine(engine_env: dict[str, str]) -> Iterator[Any]:
    client = containers.engine(engine_env)
    yield client
    client.close()


@pytest.fixture
def home(tmp_path: Path, engine: Any) -> Iterator[Path]:
    """A home whose containers are all removed after the test, whatever it did."""
    (tmp_path / "run").mkdir()
    yield tmp_path
    for container in containers.labelled(engine, {container_labels.HOME: str(tmp_path)}):
        container.remove(force=True)


# The stand-in runner: says hello, writes its ready file once, then waits for SIGTERM (exit 0) or exits
# with the code in $EXIT_CODE after the ready file.
FAKE_RUNNER = textwrap.dedent(
    """
    import os, signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("hello from the container", flush=True)
    ready = os.environ["STIGMER_READY_FILE"]
    with open(ready + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\\n")
    os.replace(ready + ".tmp", ready)
    if os.environ.get("EXIT_CODE"):
        sys.exit(int(os.environ["EXIT_CODE"]))
    while True:
        time.sleep(0.1)
    """
)


def keeper_spec(home: Path, engine_env: dict[str, str], **env: str) -> ContainerSpec:
    spec = container_spec(docker_settings(home, runner_image()), {**engine_env, "LANG": "C.UTF-8"}, "agent-runner")
    return ContainerSpec(
        **{
            **json.loads(spec.to_json()),
            "env": {**spec.env, **env},
            "entrypoint": ["/opt/stigmer/bin/python", "-c", FAKE_RUNNER],
            "stop_timeout": 5,
        }
    )


def start_keeper(spec: ContainerSpec, engine_env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **engine_env, SPEC_ENV: spec.to_json()}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "stigmer.daemon.container_keeper"], stdout=out, stderr=subprocess.STDOUT, env=env
        )


def test_the_keeper_copies_the_output_relays_readiness_and_removes_the_container_on_sigterm(
    home: Path, engine: Any, engine_env: dict[str, str]
) -> None:
    spec = keeper_spec(home, engine_env)
    log = home / "keeper.log"
    keeper = start_keeper(spec, engine_env, log)
    try:

        def ready() -> None:
            _assert_file(Path(spec.ready_file))
            assert Path(spec.ready_file).read_text() == f"{keeper.pid}\n", log.read_text()

        eventually(ready, timeout=60, alive=lambda: _alive(keeper, log))
        assert "hello from the container" in log.read_text()
        recorded = json.loads(Path(spec.container_file).read_text())
        assert recorded["image"] == spec.image
        running = containers.labelled(engine, {container_labels.HOME: str(home)})
        assert [c.id for c in running] == [recorded["id"]] and running[0].status == "running"
        assert running[0].attrs["HostConfig"]["NetworkMode"] == "host"
        keeper.send_signal(signal.SIGTERM)
        assert keeper.wait(timeout=30) == 0
    finally:
        keeper.kill()
        keeper.wait()
    assert containers.labelled(engine, {container_labels.HOME: str(home)}) == []
    assert not Path(spec.container_file).exists()


def test_the_keeper_exits_with_the_containers_exit_code_and_removes_it(
    home: Path, engine: Any, engine_env: dict[str, str]
) -> None:
    spec = keeper_spec(home, engine_env, EXIT_CODE="3")
    keeper = start_keeper(spec, engine_env, home / "keeper.log")
    try:
        assert keeper.wait(timeout=60) == 3, (home / "keeper.log").read_text()
    finally:
        keeper.kill()
        keeper.wait()
    assert "exited with code 3" in (home / "keeper.log").read_text()
    assert containers.labelled(engine, {container_labels.HOME: str(home)}) == []


def test_a_sigkilled_keepers_container_is_removed_by_the_components_cleanup(
    home: Path, engine: Any, engine_env: dict[str, str]
) -> None:
    spec = keeper_spec(home, engine_env)
    keeper = start_keeper(spec, engine_env, home / "keeper.log")
    try:
        eventually(lambda: _assert_file(Path(spec.ready_file)), timeout=60)
    finally:
        keeper.kill()
        keeper.wait()
    assert len(containers.labelled(engine, {container_labels.HOME: str(home)})) == 1, "the container went too"
    removed = AGENT_RUNNER.cleanup(docker_settings(home, spec.image), engine_env)
    assert len(removed) == 1 and spec.name in removed[0]
    assert containers.labelled(engine, {container_labels.HOME: str(home)}) == []


def test_a_missing_image_is_a_clear_error_saying_how_to_build_it(tmp_path: Path, engine_env: dict[str, str]) -> None:
    settings = docker_settings(tmp_path, "stigmer-agent-runner:no-such-version")
    with pytest.raises(DaemonError) as raised:
        AGENT_RUNNER.preflight(settings, engine_env)
    message = str(raised.value)
    assert "the image stigmer-agent-runner:no-such-version is not in the Docker engine" in message
    assert "docker images step" in message and "STIGMER_AGENT_RUNNER_MODE=process" in message


def _assert_file(path: Path) -> None:
    assert path.exists(), f"{path} does not exist yet"


def _alive(process: subprocess.Popen[bytes], log: Path) -> None:
    from support.waits import ProcessDiedError

    if process.poll() is not None:
        raise ProcessDiedError(f"the keeper exited with {process.returncode}: {log.read_text()}")
