"""Installing the engine's prerequisites (with a fake apt-get) and the host checks behind the doctor row."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from support import docker_host
from support.docker_host import InstallError, install_prerequisites


def _executable(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def bare_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with neither dockerd nor debootstrap; the folder a fake apt-get installs them into."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # the fake apt-get runs its commands by full path
    monkeypatch.setattr(docker_host, "_SBIN", ())
    monkeypatch.setattr(docker_host, "POLICY_RC_D", tmp_path / "policy-rc.d")
    return bin_dir


def test_nothing_is_installed_when_both_tools_are_there(bare_host: Path) -> None:
    for tool in ("dockerd", "debootstrap"):
        _executable(bare_host / tool, "exit 0")
    said: list[str] = []
    assert install_prerequisites(say=said.append) == []
    assert "present" in said[0]


def test_without_root_the_error_says_what_to_run(bare_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(InstallError) as raised:
        install_prerequisites(say=lambda _: None)
    message = str(raised.value)
    assert "sudo ci/provision-docker" in message
    assert "apt-get install -y --no-install-recommends docker.io debootstrap" in message


def test_without_apt_get_the_error_says_so(bare_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(InstallError, match="no apt-get"):
        install_prerequisites(say=lambda _: None)


def test_apt_get_installs_the_missing_packages_with_services_held(
    bare_host: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    calls = tmp_path / "calls"
    policy = tmp_path / "policy-rc.d"
    _executable(
        bare_host / "apt-get",
        f'echo "$DEBIAN_FRONTEND $* policy:$(test -x {policy} && {policy}; echo $?)" >> {calls}\n'
        f'case "$*" in *install*) printf "#!/bin/sh\\n" > {bare_host}/dockerd; /bin/cp {bare_host}/dockerd '
        f"{bare_host}/debootstrap; /bin/chmod +x {bare_host}/dockerd {bare_host}/debootstrap;; esac",
    )
    installed = install_prerequisites(say=lambda _: None)
    assert installed == ["docker.io", "debootstrap"]
    lines = calls.read_text().splitlines()
    assert lines == [
        "noninteractive -q update policy:101",
        "noninteractive -q install -y --no-install-recommends docker.io debootstrap policy:101",
    ]
    assert not policy.exists(), "the temporary policy-rc.d is removed"


def test_a_failing_apt_get_names_the_command_to_run_by_hand(bare_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    _executable(bare_host / "debootstrap", "exit 0")
    _executable(bare_host / "apt-get", "exit 100")
    with pytest.raises(InstallError) as raised:
        install_prerequisites(say=lambda _: None)
    assert "exited 100" in str(raised.value)
    assert "apt-get install -y --no-install-recommends docker.io" in str(raised.value)


def test_a_policy_the_machine_has_is_left_alone(tmp_path: Path) -> None:
    policy = _executable(tmp_path / "policy-rc.d", "exit 0")
    with docker_host.services_not_started(policy):
        assert policy.read_text().endswith("exit 0\n")
    assert policy.read_text().endswith("exit 0\n")


def test_cgroups_and_overlay_are_read_from_the_kernel_files(tmp_path: Path) -> None:
    assert docker_host.cgroup_problem(tmp_path) is not None
    (tmp_path / "memory").mkdir()
    assert docker_host.cgroup_problem(tmp_path) is None
    filesystems = tmp_path / "filesystems"
    filesystems.write_text("nodev\tsysfs\nnodev\ttmpfs\n\text4\n")
    assert not docker_host.overlay_available(filesystems)
    filesystems.write_text("nodev\tsysfs\nnodev\toverlay\n")
    assert docker_host.overlay_available(filesystems)


def test_the_engine_problem_names_each_blocking_check() -> None:
    checks = [
        docker_host.HostCheck("root", False, "uid 1000: dockerd needs root"),
        docker_host.HostCheck("overlay", False, "no overlayfs", blocking=False),
        docker_host.HostCheck("dockerd", True, "there"),
    ]
    assert docker_host.engine_problem(checks) == "root: uid 1000: dockerd needs root"
