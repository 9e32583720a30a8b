"""``--target remote`` (support.target, support.remote): the options are checked, a remote that does not
answer stops the run at once, tests that need a stack of their own skip with the four-part message
(strict mode leaves those skips alone, but still fails a run that only skipped), and a test that reaches
for such a stack without the marker fails saying which marker it lacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import CliResult
from support.fixtures.grpc_service import GrpcService
from support.ports import LOOPBACK, free_port
from support.processes import RunId
from support.remote import NotOwnedError, RemoteStack, created_resources
from support.strict import BY_DESIGN_PREFIXES
from support.target import REMOTE, Target, TargetError, not_owned_message, parse_target, probe
from tests.unit.inner_sessions import inner_session

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def remote_server() -> Iterator[GrpcService]:
    """A gRPC server whose health check says SERVING: stands for the remote stigmer-server and Temporal."""
    with GrpcService() as service:
        yield service


def test_the_local_target_is_the_default_and_refuses_remote_addresses() -> None:
    assert parse_target("local", None, None) == Target()
    with pytest.raises(TargetError, match=r"^--server-addr needs --target remote"):
        parse_target("local", "127.0.0.1:7234", None)
    with pytest.raises(TargetError, match=r"^--temporal-addr, --client-token-file need --target remote"):
        parse_target("local", None, "127.0.0.1:7233", "token")


@pytest.mark.parametrize(
    ("server", "temporal", "error"),
    [
        (None, "127.0.0.1:7233", "--target remote needs --server-addr HOST:PORT"),
        ("127.0.0.1:7234", "", "--target remote needs --temporal-addr HOST:PORT"),
        ("127.0.0.1", "127.0.0.1:7233", "--server-addr: '127.0.0.1' has no port"),
        ("127.0.0.1:7234", "127.0.0.1:99999", "--temporal-addr: '127.0.0.1:99999': port 99999 is out of range"),
        ("127.0.0.1:http", "127.0.0.1:7233", "--server-addr: '127.0.0.1:http': port 'http' is not a number"),
    ],
)
def test_a_bad_remote_address_is_an_error_naming_the_option(server: str | None, temporal: str, error: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(REMOTE, server, temporal)
    assert str(info.value).startswith(error), info.value


def test_a_remote_target_keeps_its_addresses_and_token_file(tmp_path: Path) -> None:
    token = tmp_path / "client.token"
    token.write_text("secret\n")
    target = parse_target(REMOTE, " example.com:7234", "[::1]:7233", str(token))
    assert target == Target(REMOTE, "example.com:7234", "[::1]:7233", token)
    with pytest.raises(TargetError, match=r"--client-token-file: .* is not a readable file"):
        parse_target(REMOTE, "example.com:7234", "example.com:7233", str(tmp_path / "missing"))


def test_the_probe_names_what_does_not_answer(remote_server: GrpcService) -> None:
    nobody = f"{LOOPBACK}:{free_port()}"
    assert probe(Target(REMOTE, remote_server.address, remote_server.address)) is None
    problem = probe(Target(REMOTE, nobody, remote_server.address), timeout=1)
    assert problem == f"stigmer-server at {nobody} did not answer its health check within 1s: DEADLINE_EXCEEDED"
    problem = probe(Target(REMOTE, remote_server.address, nobody), timeout=1)
    assert problem is not None and problem.startswith(f"nothing accepts connections at the Temporal address {nobody}")


def test_the_skip_message_has_four_parts_and_strict_mode_leaves_it_alone() -> None:
    message = not_owned_message(Target(REMOTE, "h:1", "h:2"), "tests/x.py::test_kill")
    lines = message.splitlines()
    assert lines[0] == "Missing: a stack this run owns: --target remote points at h:1 (Temporal h:2)"
    assert lines[1].startswith("Needed by: tests/x.py::test_kill; tests that kill")
    assert lines[2] == "Provide it:" and lines[-1].startswith("Without it: ")
    assert message.startswith(BY_DESIGN_PREFIXES)


def _call(args: tuple[str, ...], stdout: str, exit_code: int = 0) -> CliResult:
    return CliResult(args, exit_code, stdout, "", 0.1)


APPLIED = """Deployment successful

TYPE      NAME          ACTION     ID
agent     reviewer      Created    agt-01
workflow  team/flow     Unchanged  wfl-02
workflow  team/other    Created    wfl-03

Deployed: 1 agent(s), 2 workflow(s)
"""


def test_cleanup_deletes_only_what_an_apply_created() -> None:
    calls = [
        _call(("apply", "--config", "p"), APPLIED),
        _call(("apply", "--config", "p", "--dry-run"), APPLIED.replace("Deployment", "Dry run")),
        _call(("apply", "--config", "q"), "Error: validation error", exit_code=1),
        _call(("run", "reviewer"), "Execution ID: aex-01abcdef\n"),
    ]
    assert created_resources(calls) == [("agent", "agt-01"), ("workflow", "wfl-03")]


def test_a_remote_stack_points_the_cli_at_the_remote_and_refuses_what_it_does_not_own(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken")
    target = Target(REMOTE, "example.com:7234", "example.com:7233", token)
    stack = RemoteStack("m-1", tmp_path / "m-1", Path("/bin/stigmer"), RunId.for_process(), target=target)
    env = stack.env()
    assert (env["STIGMER_SERVER_ADDR"], env["STIGMER_TEMPORAL_ADDR"]) == ("example.com:7234", "example.com:7233")
    assert (Path(env["STIGMER_HOME"]) / "client.token").read_text() == "t0ken"
    for reach in (lambda: stack.home, stack.kill_server, stack.log_paths, stack.stop, stack.status):
        with pytest.raises(NotOwnedError, match=r'Mark the test @pytest.mark.needs\("owned-stack"\)'):
            reach()


OWNED_TESTS = """
import pytest

@pytest.mark.needs("owned-stack")
def test_kills_the_server(stack):
    stack.kill_server()

def test_reads_the_remote(stack):
    assert stack.address == "{address}"
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    inner_session(pytester, monkeypatch)
    return pytester


def _remote_args(server: GrpcService) -> list[str]:
    return ["-p", "no:cacheprovider", "-rs", "--target=remote", f"--server-addr={server.address}",
            f"--temporal-addr={server.address}"]  # fmt: skip


def test_a_test_that_needs_its_own_stack_skips_on_a_remote_target_even_in_strict_mode(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, remote_server: GrpcService
) -> None:
    inner.makepyfile(OWNED_TESTS.format(address=remote_server.address))
    monkeypatch.setenv("CI", "true")
    result = inner.runpytest_subprocess(*_remote_args(remote_server), timeout=60)
    result.assert_outcomes(passed=1, skipped=1)
    text = result.stdout.str()
    assert f"target: remote (stigmer-server {remote_server.address}" in text, text
    assert "Missing: a stack this run owns: --target remote points at" in text, text
    assert "Needed by: test_a_test_that_needs_its_own_stack_skips" in text, text


def test_a_remote_run_where_every_test_skipped_still_fails_in_strict_mode(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, remote_server: GrpcService
) -> None:
    inner.makepyfile(OWNED_TESTS.format(address=remote_server.address))
    monkeypatch.setenv("CI", "true")
    result = inner.runpytest_subprocess(*_remote_args(remote_server), "-k", "kills", timeout=60)
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "all 1 test(s) of this run skipped" in result.stdout.str()


def test_an_unmarked_test_that_kills_the_remote_server_fails_naming_the_marker(
    inner: pytest.Pytester, remote_server: GrpcService
) -> None:
    inner.makepyfile("def test_kills_without_the_marker(stack):\n    stack.kill_server()\n")
    result = inner.runpytest_subprocess(*_remote_args(remote_server), timeout=60)
    result.assert_outcomes(failed=1)
    assert "killing stigmer-server needs a stack this run owns" in result.stdout.str()


def test_on_the_local_target_the_marker_changes_nothing(inner: pytest.Pytester) -> None:
    inner.makepyfile('import pytest\n\n@pytest.mark.needs("owned-stack")\ndef test_local():\n    pass\n')
    inner.runpytest_subprocess("-p", "no:cacheprovider", timeout=60).assert_outcomes(passed=1)


def test_bad_options_and_a_silent_remote_stop_the_run_before_any_test(inner: pytest.Pytester) -> None:
    inner.makepyfile("def test_never():\n    raise AssertionError('must not run')\n")
    bad = inner.runpytest_subprocess("--target=remote", "--server-addr=127.0.0.1", "--temporal-addr=h:1", timeout=60)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--server-addr: '127.0.0.1' has no port" in bad.stderr.str()
    nobody = f"{LOOPBACK}:{free_port()}"
    silent = inner.runpytest_subprocess(
        "--target=remote", f"--server-addr={nobody}", f"--temporal-addr={nobody}", timeout=60
    )
    assert silent.ret == pytest.ExitCode.USAGE_ERROR
    errors = silent.stderr.str()
    assert "--target remote: the installation does not answer, so no test ran." in errors, errors
    assert f"stigmer-server at {nobody} did not answer its health check within 5s" in errors, errors
    assert f"nothing accepts connections at the Temporal address {nobody}" in errors, errors
