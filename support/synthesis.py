"""Synthesize a project the way ``stigmer apply`` does, through the SDK -> CLI contract, without the CLI.

The entry point runs with ``STIGMER_SYNTH_DIR`` set and writes ``manifest.json``, ``agents/<name>.json``
and ``workflows/<namespace>--<name>.json`` (protobuf JSON with field names). The tests use it to send
exactly what the CLI would send straight to the API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from google.protobuf.json_format import Parse

from stigmer.api.v1 import agent_pb2, apply_pb2, workflow_pb2
from support.cli import isolated_env
from support.projects import PROJECT_FILE


def synthesize(folder: Path, timeout: float = 60.0) -> apply_pb2.ApplyRequest:
    """The ``ApplyRequest`` a project's entry point synthesizes; fails with its output when it does not."""
    main = yaml.safe_load((folder / PROJECT_FILE).read_text())["main"]
    with tempfile.TemporaryDirectory(prefix="e2e-synth-") as out:
        done = subprocess.run(
            [sys.executable, str(folder / main)],
            cwd=folder,
            env={**isolated_env(), "STIGMER_SYNTH_DIR": out},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"synthesis of {folder} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        root = Path(out)
        manifest = json.loads((root / "manifest.json").read_text())
        agents = [
            Parse((root / "agents" / f"{name}.json").read_text(), agent_pb2.Agent()) for name in manifest["agents"]
        ]
        workflows = [
            Parse((root / "workflows" / f"{ref.replace('/', '--', 1)}.json").read_text(), workflow_pb2.Workflow())
            for ref in manifest["workflows"]
        ]
    return apply_pb2.ApplyRequest(agents=agents, workflows=workflows)
