"""Debian's chromium, headless: how the report's test opens ``reports/index.html`` like a reader would.

``install_chromium()`` installs the ``chromium`` package with apt-get when no browser is found (root
only, as ``support.docker_host`` installs docker.io); ``headless(...)`` runs one headless invocation
(``--dump-dom``, ``--screenshot``) with a timeout, in a throw-away profile, labelled with a run ID so
that whatever it leaves behind (the crash handler outlives the browser) is killed when it returns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from support.docker_host import InstallError, apt_install, manual_install_command
from support.prereqs import CheckContext, Prerequisite, missing_message
from support.processes import RunId, kill_processes, kill_tree, label_env, processes_of

PACKAGE = "chromium"
NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_TIMEOUT = 900.0
RUN_TIMEOUT = 60.0
# as root the sandbox cannot start; no GPU on CI machines; no first-run dialogs, no network lookups
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """The path of a chromium executable on PATH, or None."""
    return next((found for name in NAMES if (found := shutil.which(name))), None)


def _check(_context: CheckContext) -> tuple[bool, str]:
    found = find_chromium()
    return found is not None, found or "no chromium on PATH"


CHROMIUM = Prerequisite(
    name="chromium (headless browser)",
    needed_by="the HTML report's browser test (tests/unit/test_report_browser.py): it opens reports/index.html "
    "in headless chromium, reads the rendered DOM and keeps a screenshot",
    provide=(
        "as root the test installs it itself: apt-get install -y --no-install-recommends chromium",
        f"by hand: {manual_install_command([PACKAGE])}",
    ),
    without="python -m support.report_html builds the report without a browser; open reports/index.html yourself",
    check=_check,
)


def _say(message: str) -> None:
    print(f"[chromium] {message}", file=sys.stderr, flush=True)


def install_chromium(timeout: float = INSTALL_TIMEOUT) -> str:
    """The browser's path, installing Debian's ``chromium`` first when none is found (root, apt-get);
    ``InstallError`` with the four-part message when it cannot be had here."""
    found = find_chromium()
    if found:
        return found
    manual = manual_install_command([PACKAGE])
    if os.geteuid() != 0:
        raise InstallError(
            missing_message(CHROMIUM, f"no chromium on PATH, and installing needs root (uid {os.geteuid()})")
        )
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise InstallError(missing_message(CHROMIUM, "no chromium on PATH, and no apt-get to install it with"))
    started = time.monotonic()
    _say(f"installing {PACKAGE} with apt-get")
    apt_install(apt_get, [PACKAGE], started + timeout, manual)
    found = find_chromium()
    if found is None:
        raise InstallError(missing_message(CHROMIUM, f"apt-get installed {PACKAGE} but no chromium is on PATH"))
    _say(f"installed {PACKAGE} in {time.monotonic() - started:.1f}s: {found}")
    return found


@dataclass(frozen=True)
class BrowserRun:
    """One headless invocation: its exit code and output (``--dump-dom`` prints the DOM on stdout)."""

    command: list[str]
    exit_code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"$ {' '.join(self.command)}\nexit {self.exit_code}\nstderr (last lines):\n" + "\n".join(
            self.stderr.splitlines()[-15:]
        )


def headless(browser: str, url: str, *args: str, timeout: float = RUN_TIMEOUT) -> BrowserRun:
    """Run ``browser`` headless on ``url`` with ``args``; its whole tree and every process it labelled
    are gone when this returns (``subprocess.TimeoutExpired`` after killing them, past ``timeout``)."""
    run_id = RunId.for_process(tag="chromium")
    with tempfile.TemporaryDirectory(prefix="stigmer-chromium-") as profile:
        command = [browser, *FLAGS, f"--user-data-dir={profile}", *args, url]
        env = label_env({**os.environ, "HOME": profile}, run_id)
        proc = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.communicate(timeout=10)
            raise
        finally:
            kill_processes(processes_of(run_id))
    return BrowserRun(command, proc.returncode, stdout, stderr)


def main(argv: list[str] | None = None) -> int:
    """``python -m support.chromium install``: install the browser when missing (root)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m support.chromium", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["install", "which"], help="install it when missing, or print its path")
    args = parser.parse_args(argv)
    if args.command == "which":
        found = find_chromium()
        print(found or missing_message(CHROMIUM, "no chromium on PATH"))
        return 0 if found else 1
    try:
        print(install_chromium())
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
