"""An MCP server for the agent-runner tests: records the env and calls it got to a JSON file.

``python agent_runner_mcp_server.py RECORD_FILE [PORT]``: at start it writes ``{"env": {...}, "calls": [...]}``
(keeping the calls of earlier starts) to RECORD_FILE and appends every tool call (with the idempotency key
of its ``_meta``, when it has one). Without PORT it speaks stdio (and never prints what it received: stdout
is the protocol); with PORT, streamable HTTP on 127.0.0.1:PORT at ``/mcp``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer

RECORD = Path(sys.argv[1])
IDEMPOTENCY_META_KEY = "io.stigmer/idempotency-key"
server = MCPServer("fixture")


def _record(entry: dict[str, object]) -> None:
    data = json.loads(RECORD.read_text()) if RECORD.exists() else {"env": dict(os.environ), "calls": []}
    data["calls"].append(entry)
    RECORD.write_text(json.dumps(data))


@server.tool()
def lookup(key: str, ctx: Context) -> str:
    """Look a key up in the fixture's table."""
    entry: dict[str, object] = {"tool": "lookup", "key": key, "cwd": os.getcwd()}
    meta = ctx.request_context.meta or {}
    if IDEMPOTENCY_META_KEY in meta:
        entry["idempotency_key"] = meta[IDEMPOTENCY_META_KEY]
    _record(entry)
    return f"value-of-{key}"


@server.tool()
def hidden_tool() -> str:
    """A tool the agent does not enable."""
    _record({"tool": "hidden_tool"})
    return "hidden"


if __name__ == "__main__":
    # the calls of earlier starts stay (a retried run starts its servers again); env is this start's
    calls = json.loads(RECORD.read_text())["calls"] if RECORD.exists() else []
    RECORD.write_text(json.dumps({"env": dict(os.environ), "calls": calls}))
    # a careless server: the runner must keep this out of its log
    print(f"fixture started with token {os.environ.get('API_TOKEN', '')}", file=sys.stderr, flush=True)
    if len(sys.argv) > 2:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]), stateless_http=True)
    else:
        server.run("stdio")
