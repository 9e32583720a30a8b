"""Where the local stack keeps its data and how its components reach each other.

Precedence: environment variables, then ``$STIGMER_HOME/config.yaml``, then defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SERVER_ADDR = "127.0.0.1:7234"
DEFAULT_TEMPORAL_ADDR = "127.0.0.1:7233"
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_LLM_MODEL = "llama3.2:1b"
DEFAULT_AGENT_RUNNER_MODE = "process"
AGENT_RUNNER_MODES = ("process", "docker")

# environment variable -> config.yaml key
ENV_KEYS = {
    "STIGMER_SERVER_ADDR": "server_addr",
    "STIGMER_TEMPORAL_ADDR": "temporal_addr",
    "OLLAMA_HOST": "ollama_host",
    "STIGMER_LLM_MODEL": "llm_model",
    "STIGMER_AGENT_RUNNER_MODE": "agent_runner_mode",
}

COMPONENTS = ("stigmer-server", "temporal", "workflow-runner", "agent-runner")


class ConfigError(Exception):
    """The configuration file or an environment variable holds an unusable value."""


@dataclass(frozen=True)
class Settings:
    home: Path
    server_addr: str = DEFAULT_SERVER_ADDR
    temporal_addr: str = DEFAULT_TEMPORAL_ADDR
    ollama_host: str = DEFAULT_OLLAMA_HOST
    llm_model: str = DEFAULT_LLM_MODEL
    agent_runner_mode: str = DEFAULT_AGENT_RUNNER_MODE

    @property
    def config_file(self) -> Path:
        return self.home / "config.yaml"

    @property
    def db_path(self) -> Path:
        return self.home / "stigmer.db"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.home / "pids"

    @property
    def temporal_dir(self) -> Path:
        return self.home / "temporal"

    @property
    def workspace_dir(self) -> Path:
        return self.home / "workspace"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        return self.pids_dir / f"{component}.pid"


def home_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    raw = env.get("STIGMER_HOME") or str(Path.home() / ".stigmer")
    return Path(raw).expanduser().resolve()


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    known = set(ENV_KEYS.values())
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return {k: str(v) for k, v in data.items() if v is not None}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the stack rooted at ``STIGMER_HOME`` (default ``~/.stigmer``)."""
    env = os.environ if environ is None else environ
    home = home_dir(env)
    values = _read_config_file(home / "config.yaml")
    for var, key in ENV_KEYS.items():
        if env.get(var):
            values[key] = env[var]
    settings = Settings(home=home, **values)
    if settings.agent_runner_mode not in AGENT_RUNNER_MODES:
        raise ConfigError(
            f"agent runner mode {settings.agent_runner_mode!r} is not one of {', '.join(AGENT_RUNNER_MODES)}"
        )
    return settings
