"""The agent-runner's start-up stays light: the MCP SDK is imported only when an agent has MCP servers."""

from __future__ import annotations

import subprocess
import sys


def test_the_worker_module_does_not_import_the_mcp_sdk() -> None:
    # A fresh interpreter: this test process may have imported mcp already (other tests use it).
    probe = "import sys, stigmer.agent_runner.worker; print(sorted(m for m in ('mcp', 'httpx2') if m in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]", (
        "importing the agent-runner's worker imported the MCP SDK (about a CPU second at every start); "
        f"import it where an MCP server is connected instead. Imported: {completed.stdout.strip()}"
    )
