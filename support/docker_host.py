"""What this machine needs to run the pipeline's own Docker engine, and installing it (stdlib only).

``python -m support.docker_host install`` (what ``ci/provision-docker`` runs, as root) installs Debian's
``docker.io`` and ``debootstrap`` with apt-get when ``dockerd`` or ``debootstrap`` is missing, and does
nothing when both are there. The packages' own service is not started during the install (a
``policy-rc.d`` that refuses it is in place meanwhile, unless the machine has its own): the pipeline
starts its private engines itself, and a stock ``docker.service`` would set up a bridge and firewall
rules. ``python -m support.docker_host doctor`` prints what is there and what is missing.

This module uses the standard library only, so it runs with a bare ``python3`` before any virtualenv.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PACKAGES = {"dockerd": "docker.io", "debootstrap": "debootstrap"}
INSTALL_TIMEOUT = 900.0
PROVISION_COMMAND = "sudo ci/provision-docker"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
CGROUP_ROOT = Path("/sys/fs/cgroup")
FILESYSTEMS = Path("/proc/filesystems")
# sbin folders are not on every user's PATH, but dockerd and debootstrap live there
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")

Say = Callable[[str], None]


class InstallError(Exception):
    """The prerequisites are missing and could not be installed here; the message says how to by hand."""


def _say(message: str) -> None:
    print(f"[docker-host] {message}", file=sys.stderr, flush=True)


def find_tool(name: str) -> str | None:
    """The path of executable ``name`` on PATH or in the sbin folders, or None."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which(name, path=path)


def missing_packages() -> list[str]:
    """The Debian packages whose tool (``dockerd``, ``debootstrap``) is not installed."""
    return [package for tool, package in PACKAGES.items() if find_tool(tool) is None]


def manual_install_command(packages: list[str]) -> str:
    """The command a person runs to install ``packages`` by hand."""
    return (
        "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive "
        f"apt-get install -y --no-install-recommends {' '.join(packages)}"
    )


@contextmanager
def services_not_started(policy: Path | None = None) -> Iterator[None]:
    """Keep package scripts from starting services (Debian's policy-rc.d, exit 101) while in the block.

    A policy the machine already has is left as it is.
    """
    policy = policy or POLICY_RC_D
    if policy.exists():
        yield
        return
    policy.write_text("#!/bin/sh\n# written by support/docker_host.py during an install\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)


def _apt(apt_get: str, args: list[str], deadline: float, manual: str) -> None:
    command = [apt_get, "-q", *args]
    remaining = deadline - time.monotonic()
    _say(f"running {' '.join(command)} (timeout {remaining:.0f}s)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, timeout=max(remaining, 1.0), check=False)
    except subprocess.TimeoutExpired as exc:
        what = f"`{' '.join(command)}` did not finish within {exc.timeout:.0f}s"
        raise InstallError(f"{what}; by hand: {manual}") from exc
    if done.returncode != 0:
        raise InstallError(f"`{' '.join(command)}` exited {done.returncode} (its output is above); by hand: {manual}")


def apt_install(apt_get: str, packages: list[str], deadline: float, manual: str) -> None:
    """``apt-get update`` then install ``packages`` without recommends (no service started meanwhile);
    ``InstallError`` naming ``manual`` when it fails or passes ``deadline``."""
    with services_not_started():
        _apt(apt_get, ["update"], deadline, manual)
        _apt(apt_get, ["install", "-y", "--no-install-recommends", *packages], deadline, manual)


def install_prerequisites(timeout: float = INSTALL_TIMEOUT, say: Say = _say) -> list[str]:
    """Install ``docker.io`` and ``debootstrap`` when their tools are missing (root and apt-get needed).

    Returns the packages installed (empty when nothing was missing); raises ``InstallError`` with the
    command to run by hand when it cannot install them here.
    """
    missing = missing_packages()
    if not missing:
        say(f"present: dockerd at {find_tool('dockerd')}, debootstrap at {find_tool('debootstrap')}")
        return []
    manual = manual_install_command(missing)
    if os.geteuid() != 0:
        raise InstallError(
            f"missing {', '.join(missing)}, and installing needs root (running as uid {os.geteuid()}): "
            f"run `{PROVISION_COMMAND}`, or by hand: {manual}"
        )
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise InstallError(
            f"missing {', '.join(missing)}, and there is no apt-get to install them with: install Docker "
            "(dockerd) and debootstrap with this system's package manager"
        )
    started = time.monotonic()
    say(f"installing {', '.join(missing)} with apt-get (services are not started)")
    apt_install(apt_get, missing, started + timeout, manual)
    still = missing_packages()
    if still:
        raise InstallError(f"apt-get installed {', '.join(missing)} but {', '.join(still)} is still missing")
    say(f"installed {', '.join(missing)} in {time.monotonic() - started:.1f}s")
    return missing


@dataclass(frozen=True)
class HostCheck:
    """One thing the engine needs: whether it is there, and what was found."""

    name: str
    ok: bool
    detail: str
    blocking: bool = True


def _version(tool: str, flag: str = "--version") -> str:
    try:
        done = subprocess.run([tool, flag], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({flag} failed: {exc})"
    return (done.stdout.strip() or done.stderr.strip() or "?").splitlines()[0]


def cgroup_problem(root: Path = CGROUP_ROOT) -> str | None:
    """Why containers cannot get cgroups here, or None (cgroup v2's controllers file or v1 hierarchies)."""
    if (root / "cgroup.controllers").is_file():
        return None
    if (root / "memory").is_dir() or (root / "devices").is_dir():
        return None
    return f"no cgroup filesystem at {root} (neither cgroup v2 nor the v1 memory/devices hierarchies)"


def cgroup_version(root: Path = CGROUP_ROOT) -> str:
    return "v2" if (root / "cgroup.controllers").is_file() else "v1"


def overlay_available(filesystems: Path = FILESYSTEMS) -> bool:
    """Whether the kernel offers overlayfs (Docker falls back to the slow vfs driver without it)."""
    try:
        return any(line.split()[-1] == "overlay" for line in filesystems.read_text().splitlines() if line.split())
    except OSError:
        return False


def host_checks() -> list[HostCheck]:
    """Everything the pipeline's engine and base image need on this machine."""
    checks = [HostCheck("linux", platform.system() == "Linux", f"{platform.system()} {platform.release()}")]
    uid = os.geteuid()
    checks.append(HostCheck("root", uid == 0, "running as root" if uid == 0 else f"uid {uid}: dockerd needs root"))
    for tool, package in PACKAGES.items():
        found = find_tool(tool)
        detail = f"{_version(found)} at {found}" if found else f"not installed (Debian package {package})"
        checks.append(HostCheck(tool, found is not None, detail))
    for tool in ("containerd", "runc"):
        found = find_tool(tool)
        checks.append(HostCheck(tool, found is not None, found or "not installed (a docker.io dependency)"))
    problem = cgroup_problem()
    checks.append(HostCheck("cgroups", problem is None, problem or f"cgroup {cgroup_version()} at {CGROUP_ROOT}"))
    overlay = overlay_available()
    detail = "overlayfs available" if overlay else "no overlayfs: images use the vfs driver (slow, large)"
    checks.append(HostCheck("overlay", overlay, detail, blocking=False))
    apt_get = shutil.which("apt-get")
    checks.append(HostCheck("apt-get", apt_get is not None, apt_get or "none (needed only to install)", False))
    return checks


def engine_problem(checks: list[HostCheck] | None = None) -> str | None:
    """Why the pipeline cannot start its own Docker engine here (None when it can)."""
    failed = [check for check in (checks if checks is not None else host_checks()) if check.blocking and not check.ok]
    if not failed:
        return None
    return "; ".join(f"{check.name}: {check.detail}" for check in failed)


def render_checks(checks: list[HostCheck]) -> str:
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        state = "ok" if check.ok else ("MISSING" if check.blocking else "warning")
        lines.append(f"{check.name.ljust(width)}  {state.ljust(7)}  {check.detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m support.docker_host", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="install docker.io and debootstrap when missing (root, apt-get)")
    install.add_argument("--timeout", type=float, default=INSTALL_TIMEOUT, help="seconds for the whole install")
    commands.add_parser("doctor", help="print what the engine needs and what is missing")
    args = parser.parse_args(argv)
    if args.command == "install":
        try:
            install_prerequisites(args.timeout)
        except InstallError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    checks = host_checks()
    print(render_checks(checks))
    problem = engine_problem(checks)
    if problem:
        print(f"\nthe pipeline cannot start a Docker engine here: {problem}\nprovide it: {PROVISION_COMMAND}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
