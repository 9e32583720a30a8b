"""The supervisor, in-process: start in waves and fail fast with log lines, restart within a budget,
adopt or refuse what already answers, and stop leaving nothing behind."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stigmer.config import Settings
from stigmer.daemon import control, state
from stigmer.daemon.components import STIGMER_SERVER, Component, GrpcHealthReadiness, Launch, WhenAnswering
from stigmer.daemon.errors import DaemonError, StartTimeoutError
from stigmer.daemon.homedir import prepare_home
from stigmer.daemon.restarts import RestartBudget
from stigmer.daemon.runners import ReadyFileReadiness
from stigmer.daemon.supervisor import Supervisor
from support.ports import LOOPBACK, free_port
from support.waits import eventually

REPO = Path(__file__).resolve().parents[2]
ENVIRON = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home", server_addr=f"{LOOPBACK}:{free_port()}")
    prepare_home(settings)
    return settings


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        supervisor.stop_event.set()
        supervisor.stop_all()


def make(settings: Settings, supervisors: list[Supervisor], *components: Component, **kwargs: object) -> Supervisor:
    supervisor = Supervisor(settings, components, ENVIRON, log=lambda line: None, **kwargs)  # type: ignore[arg-type]
    supervisors.append(supervisor)
    return supervisor


def worker(name: str, script: str) -> Component:
    """A component without a port, ready once it wrote its pid to $STIGMER_READY_FILE."""

    def launch(settings: Settings, environ: object) -> Launch:
        return Launch([sys.executable, "-c", script], env={"STIGMER_READY_FILE": str(settings.ready_file(name))})

    return Component(
        name=name, launch=launch, address=lambda s: None, health_service=None, ready_file_probe=ReadyFileReadiness
    )


def fake_server(script: str) -> Component:
    return Component(
        name="stigmer-server",
        launch=lambda settings, environ: Launch([sys.executable, "-c", script], address=settings.server_addr),
        address=lambda settings: settings.server_addr,
    )


READY_THEN_WAIT = (
    "import os, time; open(os.environ['STIGMER_READY_FILE'], 'w').write(str(os.getpid())); time.sleep(600)"
)
READY_THEN_EXIT = (
    "import os, time; open(os.environ['STIGMER_READY_FILE'], 'w').write(str(os.getpid())); time.sleep(0.3); "
    "raise SystemExit(7)"
)


def alive(pid: int | None) -> bool:
    return pid is not None and state.process_alive(pid, None)


def assert_nothing_left(settings: Settings, *pids: int | None) -> None:
    assert not settings.state_file.exists()
    assert list(settings.pids_dir.iterdir()) == []
    assert [p.name for p in settings.run_dir.iterdir()] == []
    for pid in pids:
        assert not alive(pid), f"pid {pid} still runs"


def test_real_server_is_restarted_after_sigkill_and_counted(settings: Settings, supervisors: list[Supervisor]) -> None:
    supervisor = make(settings, supervisors, STIGMER_SERVER)
    supervisor.start_all(deadline=_in(30))
    first = state.read_live(settings.state_file)
    assert first is not None and first.component("stigmer-server") is not None
    record = first.component("stigmer-server")
    assert record is not None and record.state == state.RUNNING and record.restarts == 0
    assert os.getpgid(record.pid or 0) == record.pid  # its own process group

    monitor = threading.Thread(target=supervisor.monitor)
    monitor.start()
    os.kill(record.pid or 0, signal.SIGKILL)

    def restarted() -> state.ComponentState:
        current = state.read_live(settings.state_file)
        again = current.component("stigmer-server") if current else None
        assert again is not None and again.state == state.RUNNING and again.restarts == 1, again
        assert again.pid != record.pid and alive(again.pid) and again.last_exit == -signal.SIGKILL
        return again

    again = eventually(restarted, timeout=30)
    probe = GrpcHealthReadiness(settings.server_addr)
    assert probe.ready(timeout=5)
    probe.close()
    assert "was killed by SIGKILL; restarting in 0.2s (restart 1)" in settings.log_file("stigmer-server").read_text()

    supervisor.stop_event.set()
    monitor.join(timeout=10)
    supervisor.stop_all()
    assert_nothing_left(settings, record.pid, again.pid)


def test_process_that_dies_while_starting_fails_fast_with_its_log(
    settings: Settings, supervisors: list[Supervisor]
) -> None:
    script = (
        "import sys\nfor i in range(30): print(f'line {i}')\nprint('fatal: no database', file=sys.stderr)\nsys.exit(3)"
    )
    with pytest.raises(DaemonError) as error:
        make(settings, supervisors, fake_server(script)).start_all(deadline=_in(30))
    message = str(error.value)
    assert "stigmer-server exited with code 3 while starting" in message
    assert "fatal: no database" in message
    assert "line 29" in message and "line 9\n" not in message  # the last 20 lines only


def test_never_ready_times_out(settings: Settings, supervisors: list[Supervisor]) -> None:
    supervisor = make(settings, supervisors, fake_server("import time; time.sleep(600)"))
    with pytest.raises(StartTimeoutError, match=r"did not become ready at .* in time"):
        supervisor.start_all(deadline=_in(1.0))
    pid = supervisor.state.components[0].pid
    supervisor.stop_all()
    assert_nothing_left(settings, pid)


def test_refuses_to_start_where_another_server_answers(settings: Settings, supervisors: list[Supervisor]) -> None:
    from stigmer.server.serve import build_server

    other = build_server(Settings(home=settings.home / "other"), address=settings.server_addr)
    with other, pytest.raises(DaemonError, match="something else already answers"):
        make(settings, supervisors, fake_server("import time; time.sleep(600)")).start_all(deadline=_in(5))
    assert not settings.log_file("stigmer-server").exists()


def test_adoptable_component_that_answers_is_external_and_not_started(
    settings: Settings, supervisors: list[Supervisor]
) -> None:
    from stigmer.server.serve import build_server

    adoptable = Component(
        name="temporal",
        launch=lambda s, e: Launch(["false"]),
        address=lambda s: s.server_addr,
        when_answering=WhenAnswering.ADOPT,
        preflight=_must_not_run,
    )
    other = build_server(Settings(home=settings.home / "other"), address=settings.server_addr)
    with other:
        supervisor = make(settings, supervisors, adoptable)
        supervisor.start_all(deadline=_in(5))
        record = supervisor.state.components[0]
        assert (record.state, record.managed, record.pid) == (state.EXTERNAL, False, None)
        supervisor.stop_all()
        probe = GrpcHealthReadiness(settings.server_addr)
        assert probe.ready(timeout=2), "an external component was stopped"
        probe.close()
    assert not settings.log_file("temporal").exists()


def test_waves_start_dependencies_first_and_stop_them_last(settings: Settings, supervisors: list[Supervisor]) -> None:
    server = worker("stigmer-server", READY_THEN_WAIT)
    temporal = worker("temporal", READY_THEN_WAIT)
    runner = worker("workflow-runner", READY_THEN_WAIT)
    supervisor = make(settings, supervisors, runner, server, temporal)
    assert [[slot.name for slot in wave] for wave in supervisor.waves] == [
        ["stigmer-server", "temporal"],
        ["workflow-runner"],
    ]
    supervisor.start_all(deadline=_in(30))
    pids = {c.name: c.pid for c in supervisor.state.components}
    created = {name: psutil.Process(pid).create_time() for name, pid in pids.items() if pid}
    assert created["workflow-runner"] >= max(created["stigmer-server"], created["temporal"])
    assert all(c.state == state.RUNNING for c in supervisor.state.components)
    supervisor.stop_all()
    assert_nothing_left(settings, *pids.values())


def test_component_crashing_too_often_is_left_failed(settings: Settings, supervisors: list[Supervisor]) -> None:
    budget = lambda: RestartBudget(limit=2, window=60, first_delay=0.01)  # noqa: E731
    supervisor = make(settings, supervisors, worker("workflow-runner", READY_THEN_EXIT), budget=budget)
    supervisor.start_all(deadline=_in(30))
    monitor = threading.Thread(target=supervisor.monitor)
    monitor.start()

    def failed() -> None:
        record = supervisor.state.components[0]
        assert record.state == state.FAILED, record
        assert record.restarts == 2 and record.last_exit == 7
        assert record.error is not None and "crashed too often (at most 2 restarts in 60s)" in record.error

    eventually(failed, timeout=30)
    supervisor.stop_event.set()
    monitor.join(timeout=10)
    log = settings.log_file("workflow-runner").read_text()
    assert log.count("exited with code 7; restarting") == 2 and "not restarted" in log


def _in(seconds: float) -> float:
    import time

    return time.monotonic() + seconds


def _must_not_run(settings: Settings, environ: object) -> None:
    raise AssertionError("preflight of an adopted component ran")


def test_what_a_crashed_component_started_is_killed_with_it(
    settings: Settings, supervisors: list[Supervisor], tmp_path: Path
) -> None:
    child_pid_file = tmp_path / "child.pid"
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(child_pid_file)!r}, 'w').write(str(child.pid))\n"
        "open(os.environ['STIGMER_READY_FILE'], 'w').write(str(os.getpid()))\n"
        "time.sleep(0.3)\n"
        "os._exit(9)\n"
    )
    budget = lambda: RestartBudget(limit=0)  # noqa: E731
    supervisor = make(settings, supervisors, worker("workflow-runner", script), budget=budget)
    supervisor.start_all(deadline=_in(30))
    child = int(child_pid_file.read_text())
    assert alive(child)

    def left_failed_and_child_gone() -> None:
        supervisor.check_once(_in(0))
        assert supervisor.state.components[0].state == state.FAILED
        assert not alive(child), f"the crashed component's child {child} still runs"

    eventually(left_failed_and_child_gone, timeout=10)


def test_stop_request_bounds_the_grace_period(settings: Settings, supervisors: list[Supervisor]) -> None:
    stubborn = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open(os.environ['STIGMER_READY_FILE'], 'w').write(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    supervisor = make(settings, supervisors, worker("workflow-runner", stubborn))
    supervisor.start_all(deadline=_in(30))
    pid = supervisor.state.components[0].pid
    settings.stop_request_file.write_text('{"timeout": 0.5}\n')
    began = _in(0)
    supervisor.stop_all()
    assert _in(0) - began < 5, "the requested timeout was not used as the grace period"
    assert_nothing_left(settings, pid)


# --- hold down, start again (requests of `server stop|start -c`) --------------------------------

RUNNER = "workflow-runner"

CHILD_THEN_READY = (
    "import os, subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "open(os.environ['STIGMER_CHILD_FILE'], 'w').write(str(child.pid)); "
    "open(os.environ['STIGMER_READY_FILE'], 'w').write(str(os.getpid())); time.sleep(600)"
)


def worker_with_child(name: str) -> Component:
    """A worker that starts a child process (so a stop must take its whole tree)."""

    def launch(settings: Settings, environ: object) -> Launch:
        env = {
            "STIGMER_READY_FILE": str(settings.ready_file(name)),
            "STIGMER_CHILD_FILE": str(settings.run_dir / "child"),
        }
        return Launch([sys.executable, "-c", CHILD_THEN_READY], env=env)

    return Component(
        name=name, launch=launch, address=lambda s: None, health_service=None, ready_file_probe=ReadyFileReadiness
    )


def _request(action: str, component: str = RUNNER, timeout: float = 10.0) -> control.Request:
    return control.Request(id=f"{action}-{component}", action=action, component=component, timeout=timeout)


def _reply(settings: Settings, request: control.Request) -> control.Reply | None:
    path = settings.requests_dir / f"{request.id}.reply"
    return control.Reply(**json.loads(path.read_text())) if path.exists() else None


def _record(settings: Settings, name: str = RUNNER) -> state.ComponentState:
    current = state.read_live(settings.state_file)
    record = current.component(name) if current else None
    assert record is not None
    return record


def test_held_component_stays_stopped_until_started_again(settings: Settings, supervisors: list[Supervisor]) -> None:
    supervisor = make(settings, supervisors, worker_with_child(RUNNER))
    supervisor.start_all(deadline=_in(30))
    first = _record(settings).pid
    child = int((settings.run_dir / "child").read_text())
    assert alive(first) and alive(child)

    stop = _request("stop")
    settings.requests_dir.mkdir(exist_ok=True)
    supervisor.handle(stop, _in(0))
    reply = _reply(settings, stop)
    assert reply is not None and reply.ok, reply
    assert "held down until: stigmer server start -c workflow-runner" in reply.message
    assert not alive(first) and not alive(child), "the held component's tree still runs"
    held = _record(settings)
    assert (held.state, held.held, held.pid) == (state.STOPPED, True, None)

    for later in (1, 10, 100, 1000):  # far past every restart delay: still nothing launched
        supervisor.check_once(_in(later))
    assert _record(settings).state == state.STOPPED and supervisor.slots[RUNNER].process is None
    assert supervisor.slots[RUNNER].budget._recent == deque(), "holding down must not count as a crash"

    again = supervisor.handle(stop, _in(0)) or _reply(settings, stop)
    assert again is not None and again.message == "workflow-runner is already stopped (held down)"

    start = _request("start")
    supervisor.handle(start, _in(0))
    assert _reply(settings, start) is None, "a start is answered once the component is ready"
    assert _record(settings).state == state.STARTING

    def answered() -> control.Reply:
        supervisor.check_once(_in(0))
        reply = _reply(settings, start)
        assert reply is not None, "no reply yet"
        return reply

    ready = eventually(answered, timeout=30)
    record = _record(settings)
    assert ready.ok and f"(pid {record.pid})" in ready.message, ready
    assert (record.state, record.held) == (state.RUNNING, False) and alive(record.pid) and record.pid != first
    log = settings.log_file(RUNNER).read_text()
    assert "held down until" in log and "started by request" in log


def test_requested_start_that_dies_fails_with_its_log_and_stays_held(
    settings: Settings, supervisors: list[Supervisor], tmp_path: Path
) -> None:
    flag = tmp_path / "broken"
    script = (
        f"import os, pathlib, sys, time\nif pathlib.Path({str(flag)!r}).exists():\n"
        "    print('cannot open the database: disk on fire', flush=True); sys.exit(3)\n"
        "open(os.environ['STIGMER_READY_FILE'], 'w').write(str(os.getpid())); time.sleep(600)\n"
    )
    supervisor = make(settings, supervisors, worker(RUNNER, script))
    supervisor.start_all(deadline=_in(30))
    settings.requests_dir.mkdir(exist_ok=True)
    supervisor.handle(_request("stop"), _in(0))
    flag.touch()
    start = _request("start")
    supervisor.handle(start, _in(0))

    def answered() -> control.Reply:
        supervisor.check_once(_in(0))
        reply = _reply(settings, start)
        assert reply is not None, "no reply yet"
        return reply

    reply = eventually(answered, timeout=30)
    assert not reply.ok and "exited with code 3 while starting" in reply.message, reply
    assert "disk on fire" in reply.message, "the reply must carry the component's last log lines"
    record = _record(settings)
    assert (record.state, record.held, record.pid) == (state.STOPPED, True, None)
    for later in (1, 100):
        supervisor.check_once(_in(later))
    assert supervisor.slots[RUNNER].process is None, "a failed requested start must not be restarted"


def test_requests_for_unknown_or_external_components_are_refused(
    settings: Settings, supervisors: list[Supervisor]
) -> None:
    supervisor = make(settings, supervisors, worker(RUNNER, READY_THEN_WAIT))
    supervisor.start_all(deadline=_in(30))
    settings.requests_dir.mkdir(exist_ok=True)
    unknown = _request("stop", "temporal")
    supervisor.handle(unknown, _in(0))
    reply = _reply(settings, unknown)
    assert reply is not None and not reply.ok, reply
    assert "not part of the running stack (it runs workflow-runner)" in reply.message
    running = _request("start")
    supervisor.handle(running, _in(0))
    reply = _reply(settings, running)
    assert reply is not None and reply.ok and "already running" in reply.message


# --- health supervision --------------------------------------------------------------------------


def _collect_probe(supervisor: Supervisor, name: str, now: float) -> None:
    """One monitor round at ``now``, then wait until the probe it submitted has finished."""
    supervisor.check_once(now)
    watchdog = supervisor.slots[name].watchdog
    pending = watchdog._pending if watchdog is not None else None
    if pending is not None:
        pending.result(timeout=10)


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def graced(settings: Settings) -> Settings:
    return dataclasses.replace(settings, health_grace_seconds=5.0)


def test_component_failing_health_past_the_grace_is_killed_and_restarted(
    graced: Settings, supervisors: list[Supervisor]
) -> None:
    supervisor = make(graced, supervisors, worker(RUNNER, READY_THEN_WAIT))
    supervisor.start_all(deadline=_in(30))
    first = _record(graced).pid
    os.kill(first or 0, signal.SIGSTOP)  # frozen: a SIGTERM would not stop it, SIGKILL must
    liveness_file = graced.liveness_file(RUNNER)
    liveness_file.touch()
    _age(liveness_file, 60)  # it stopped touching its liveness file long ago
    t0 = _in(0)
    _collect_probe(supervisor, RUNNER, t0 + 1.0)
    _collect_probe(supervisor, RUNNER, t0 + 1.1)
    failing = _record(graced)
    assert failing.state == state.RUNNING and failing.unhealthy_since is not None and failing.pid == first
    supervisor.check_once(t0 + 5.9)
    assert _record(graced).pid == first, "killed before the grace had passed"
    supervisor.check_once(t0 + 6.1)
    record = _record(graced)
    assert record.state == state.RESTARTING and record.health_restarts == 1, record
    assert record.last_exit == -signal.SIGKILL and "failed its health check" in (record.last_restart_reason or "")
    assert not alive(first), "the frozen process was not killed"

    def restarted() -> state.ComponentState:
        supervisor.check_once(_in(7))  # the virtual clock of this test is ahead of the real one
        again = _record(graced)
        assert again.state == state.RUNNING and again.restarts == 1 and again.unhealthy_since is None, again
        return again

    again = eventually(restarted, timeout=30)
    assert alive(again.pid) and again.pid != first
    for path in (graced.log_file(RUNNER),):
        text = path.read_text()
        assert "fails its health check (no sign of life for" in text and "killed pid" in text, text[-2000:]


def test_short_health_failure_under_the_grace_is_not_punished(graced: Settings, supervisors: list[Supervisor]) -> None:
    supervisor = make(graced, supervisors, worker(RUNNER, READY_THEN_WAIT))
    supervisor.start_all(deadline=_in(30))
    first = _record(graced).pid
    liveness_file = graced.liveness_file(RUNNER)
    liveness_file.touch()
    _age(liveness_file, 60)
    t0 = _in(0)
    _collect_probe(supervisor, RUNNER, t0 + 1.0)
    _collect_probe(supervisor, RUNNER, t0 + 1.1)
    assert _record(graced).unhealthy_since is not None
    liveness_file.touch()  # it lives again
    _collect_probe(supervisor, RUNNER, t0 + 4.0)
    _collect_probe(supervisor, RUNNER, t0 + 4.1)
    assert _record(graced).unhealthy_since is None
    for later in (7.0, 7.1, 30.0, 30.1):  # past the grace since the first failure: it recovered, so no kill
        _collect_probe(supervisor, RUNNER, t0 + later)
    record = _record(graced)
    assert (record.pid, record.restarts, record.health_restarts) == (first, 0, 0), record
    assert alive(first)
    assert "healthy again" in graced.log_file(RUNNER).read_text()


def test_start_request_revives_a_component_that_crashed_too_often(
    settings: Settings, supervisors: list[Supervisor], tmp_path: Path
) -> None:
    crashing = tmp_path / "crashing"
    crashing.touch()
    script = (
        f"import os, pathlib, time\nopen(os.environ['STIGMER_READY_FILE'], 'w').write(str(os.getpid()))\n"
        f"time.sleep(0.2)\nif pathlib.Path({str(crashing)!r}).exists():\n    raise SystemExit(7)\ntime.sleep(600)\n"
    )
    budget = lambda: RestartBudget(limit=1, window=60, first_delay=0.01)  # noqa: E731
    supervisor = make(settings, supervisors, worker(RUNNER, script), budget=budget)
    supervisor.start_all(deadline=_in(30))

    def failed() -> None:
        supervisor.check_once(_in(0))
        assert _record(settings).state == state.FAILED

    eventually(failed, timeout=30)
    crashing.unlink()  # the operator fixed the cause
    settings.requests_dir.mkdir(exist_ok=True)
    start = _request("start")
    supervisor.handle(start, _in(0))

    def answered() -> control.Reply:
        supervisor.check_once(_in(0))
        reply = _reply(settings, start)
        assert reply is not None, "no reply yet"
        return reply

    reply = eventually(answered, timeout=30)
    assert reply.ok, reply
    record = _record(settings)
    assert record.state == state.RUNNING and record.error is None and alive(record.pid), record


def test_a_data_folder_that_refuses_writes_neither_stops_the_supervisor_nor_keeps_a_component_down(
    settings: Settings, supervisors: list[Supervisor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only or full STIGMER_HOME (the resilience tier's disk faults): the crashed component is
    restarted anyway (its output to the supervisor's log), and the state is recorded once writes work."""
    supervisor = make(settings, supervisors, worker(RUNNER, READY_THEN_WAIT))
    supervisor.start_all(deadline=_in(30))
    monitor = threading.Thread(target=supervisor.monitor)
    monitor.start()
    first = supervisor.state.components[0].pid
    refusing = threading.Event()
    real_write = state.write

    def write(path: Path, current: state.StackState) -> None:
        if refusing.is_set():
            raise OSError(30, "Read-only file system", str(path))
        real_write(path, current)

    monkeypatch.setattr(state, "write", write)
    log = settings.log_file(RUNNER)
    log.unlink()
    log.mkdir()  # cannot be opened for writing, even by root
    refusing.set()
    os.kill(first or 0, signal.SIGKILL)

    def restarted() -> None:
        record = supervisor.state.components[0]
        assert monitor.is_alive(), "the supervisor stopped supervising"
        assert record.state == state.RUNNING and record.restarts == 1 and record.pid != first, record
        assert alive(record.pid)

    eventually(restarted, timeout=30)
    recorded = state.read_live(settings.state_file)
    assert recorded is not None and recorded.components[0].restarts == 0, "nothing could be recorded meanwhile"

    refusing.clear()

    def recorded_again() -> None:
        current = state.read_live(settings.state_file)
        assert current is not None and current.components[0].restarts == 1 and current.components[0].state == "running"

    eventually(recorded_again, timeout=30)
    supervisor.stop_event.set()
    monitor.join(timeout=10)
    log.rmdir()
