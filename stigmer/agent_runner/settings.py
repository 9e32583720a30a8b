"""What the agent-runner reads from its environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stigmer.config import load_settings

TOKEN_FILE = "runner.token"
TOKEN_METADATA = "x-stigmer-runner-token"
DEFAULT_LLM_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class RunnerSettings:
    home: Path
    server_addr: str
    temporal_addr: str
    ollama_host: str
    # STIGMER_LLM_MODEL as given to the runner (the daemon passes the stack's configured model).
    model_override: str | None = None
    llm_timeout_seconds: float = DEFAULT_LLM_TIMEOUT_SECONDS
    ready_path: Path | None = None

    @property
    def workspace_root(self) -> Path:
        return self.home / "workspace"

    @property
    def token_file(self) -> Path:
        return self.home / TOKEN_FILE

    @property
    def ready_file(self) -> Path:
        """``STIGMER_READY_FILE`` when the daemon gives one, else ``$STIGMER_HOME/run/agent-runner.ready``."""
        return self.ready_path or self.home / "run" / "agent-runner.ready"

    def read_token(self) -> str:
        """The runner token, or "" when the stack has none (the server then refuses GetRuntimeEnv)."""
        try:
            return self.token_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""


def from_environ(environ: Mapping[str, str] | None = None) -> RunnerSettings:
    """Settings from ``STIGMER_HOME`` and friends (see ``stigmer.config``)."""
    env = os.environ if environ is None else environ
    stack = load_settings(env)
    return RunnerSettings(
        home=stack.home,
        server_addr=stack.server_addr,
        temporal_addr=stack.temporal_addr,
        ollama_host=stack.ollama_host,
        model_override=env.get("STIGMER_LLM_MODEL") or None,
        ready_path=Path(env["STIGMER_READY_FILE"]) if env.get("STIGMER_READY_FILE") else None,
    )
