"""Bypasses the SDK: writes synthesis output by hand (the SDK -> CLI contract) with a task kind
the SDK could not produce, next to a valid change of the seeded agent."""

import json
import os
from pathlib import Path

out = Path(os.environ["STIGMER_SYNTH_DIR"])
(out / "agents").mkdir()
(out / "workflows").mkdir()
agent = {
    "metadata": {"name": "seed-agent"},
    "spec": {"instructions": "Stay as you are.", "model": "llama3.2:1b", "description": "changed"},
}
workflow = {
    "metadata": {"name": "odd-kind"},
    "spec": {
        "namespace": "e2e-bad",
        "version": "1.0.0",
        "tasks": [{"name": "jump", "kind": "teleport", "config_json": "{}"}],
    },
}
(out / "agents" / "seed-agent.json").write_text(json.dumps(agent))
(out / "workflows" / "e2e-bad--odd-kind.json").write_text(json.dumps(workflow))
manifest = {"sdk_version": "0.1.0", "agents": ["seed-agent"], "workflows": ["e2e-bad/odd-kind"]}
(out / "manifest.json").write_text(json.dumps(manifest))
