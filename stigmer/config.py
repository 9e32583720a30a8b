"""Where the local stack keeps its data and how its components reach each other.

Precedence: environment variables, then ``$STIGMER_HOME/config.yaml``, then defaults. Addresses are
checked here (``:99999`` or a missing port is an error naming where it came from, never a wrong port).
The CLI adds two layers for the address it *calls*: ``--server`` above everything, and the address the
running stack of this STIGMER_HOME recorded above config.yaml (see ``stigmer.cli.environment``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stigmer.addresses import AddressError, check_address

DEFAULT_SERVER_ADDR = "127.0.0.1:7234"
DEFAULT_TEMPORAL_ADDR = "127.0.0.1:7233"
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_LLM_MODEL = "llama3.2:1b"
DEFAULT_AGENT_RUNNER_MODE = "process"
DEFAULT_HEALTH_GRACE_SECONDS = 30.0
DEFAULT_RUNNER_WORKERS = 1
MAX_RUNNER_WORKERS = 16
AGENT_RUNNER_MODES = ("process", "docker")
AGENT_RUNNER_IMAGE_NAME = "stigmer-agent-runner"

# environment variable -> config.yaml key
ENV_KEYS = {
    "STIGMER_SERVER_ADDR": "server_addr",
    "STIGMER_TEMPORAL_ADDR": "temporal_addr",
    "OLLAMA_HOST": "ollama_host",
    "STIGMER_LLM_MODEL": "llm_model",
    "STIGMER_AGENT_RUNNER_MODE": "agent_runner_mode",
    "STIGMER_AGENT_RUNNER_IMAGE": "agent_runner_image",
    "STIGMER_COMPONENTS": "components",
    "STIGMER_SERVER_TEMPORAL_ADDR": "server_temporal_addr",
    "STIGMER_RUNNER_TEMPORAL_ADDR": "runner_temporal_addr",
    "STIGMER_RUNNER_SERVER_ADDR": "runner_server_addr",
    "STIGMER_HEALTH_GRACE_SECONDS": "health_grace_seconds",
    "STIGMER_RUNNER_WORKERS": "runner_workers",
}
ADDRESS_KEYS = ("server_addr", "temporal_addr", "server_temporal_addr", "runner_temporal_addr", "runner_server_addr")

# Every component of the local stack, in start order (``stigmer.daemon.selection`` knows their needs).
COMPONENTS = ("stigmer-server", "temporal", "workflow-runner", "agent-runner")


class ConfigError(Exception):
    """The configuration file or an environment variable holds an unusable value."""


@dataclass(frozen=True)
class Settings:
    home: Path
    server_addr: str = DEFAULT_SERVER_ADDR
    temporal_addr: str = DEFAULT_TEMPORAL_ADDR
    ollama_host: str = DEFAULT_OLLAMA_HOST
    # Empty: each agent runs its own model; set (STIGMER_LLM_MODEL), it replaces the agents' models.
    llm_model: str = ""
    agent_runner_mode: str = DEFAULT_AGENT_RUNNER_MODE
    # The image of the agent-runner in docker mode (empty: stigmer-agent-runner:<this version>).
    agent_runner_image: str = ""
    # What `stigmer server start` runs when not told (all by default; dependencies are added).
    components: tuple[str, ...] = COMPONENTS
    # Dial overrides (empty: the listen address). Where stigmer-server dials Temporal, and where both
    # runners dial Temporal and stigmer-server; e.g. a TCP proxy in between. Components still listen, and
    # the supervisor still health-checks them, at server_addr and temporal_addr.
    server_temporal_addr: str = ""
    runner_temporal_addr: str = ""
    runner_server_addr: str = ""
    # How long a running component may fail its health check before the supervisor restarts it.
    health_grace_seconds: float = DEFAULT_HEALTH_GRACE_SECONDS
    # Worker processes per runner (workflow-runner, agent-runner), all polling the runner's task queues.
    runner_workers: int = DEFAULT_RUNNER_WORKERS

    @property
    def server_temporal_dial(self) -> str:
        """Where stigmer-server dials Temporal."""
        return self.server_temporal_addr or self.temporal_addr

    @property
    def runner_temporal_dial(self) -> str:
        """Where the runners dial Temporal."""
        return self.runner_temporal_addr or self.temporal_addr

    @property
    def runner_server_dial(self) -> str:
        """Where the runners dial stigmer-server."""
        return self.runner_server_addr or self.server_addr

    @property
    def agent_runner_image_ref(self) -> str:
        """The image the agent-runner container runs in docker mode."""
        return self.agent_runner_image or default_agent_runner_image()

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

    @property
    def run_dir(self) -> Path:
        """Runtime state of the running stack: ``stack.json`` and the runners' ``<component>.ready``."""
        return self.home / "run"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stack.json"

    @property
    def stop_request_file(self) -> Path:
        """Written by ``stigmer server stop`` before it signals the supervisor: how long stopping may take."""
        return self.run_dir / "stop-request.json"

    @property
    def requests_dir(self) -> Path:
        """Requests of ``stigmer server start|stop -c`` to the running supervisor, and its replies."""
        return self.run_dir / "requests"

    def ready_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.ready"

    def liveness_file(self, component: str) -> Path:
        """Touched every second by a running runner (see :mod:`stigmer.liveness`)."""
        return self.run_dir / f"{component}.alive"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        return self.pids_dir / f"{component}.pid"

    def container_file(self, component: str) -> Path:
        """The container a component runs in (docker mode): its ID and image, written by its keeper."""
        return self.run_dir / f"{component}.container.json"


def default_agent_runner_image() -> str:
    """``stigmer-agent-runner:<version>``: the image the project's docker images step builds."""
    from stigmer import __version__

    return f"{AGENT_RUNNER_IMAGE_NAME}:{__version__}"


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
    values: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if key == "components" and isinstance(value, list):
            values[key] = ",".join(str(item) for item in value)
        else:
            values[key] = str(value)
    return values


def parse_components(text: str, source: str) -> tuple[str, ...]:
    """Component names from ``a,b`` or ``a b``; :class:`ConfigError` for an unknown or missing name."""
    names = tuple(dict.fromkeys(part for part in text.replace(",", " ").split() if part))
    if not names:
        raise ConfigError(f"{source}: no component named; choose from {', '.join(COMPONENTS)}")
    unknown = [name for name in names if name not in COMPONENTS]
    if unknown:
        raise ConfigError(f"{source}: unknown component(s) {', '.join(unknown)}; known: {', '.join(COMPONENTS)}")
    return names


def _positive_seconds(text: str, source: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"{source}: expected a number of seconds greater than 0, got {text!r}")
    return seconds


def parse_workers(text: str, source: str) -> int:
    """A worker count from 1 to :data:`MAX_RUNNER_WORKERS`; :class:`ConfigError` naming ``source`` otherwise."""
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if not 1 <= workers <= MAX_RUNNER_WORKERS:
        raise ConfigError(f"{source}: expected a whole number of workers from 1 to {MAX_RUNNER_WORKERS}, got {text!r}")
    return workers


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the stack rooted at ``STIGMER_HOME`` (default ``~/.stigmer``)."""
    env = os.environ if environ is None else environ
    home = home_dir(env)
    config_file = home / "config.yaml"
    values = _read_config_file(config_file)
    sources = {key: f"{config_file} ({key})" for key in values}
    for var, key in ENV_KEYS.items():
        if env.get(var):
            values[key] = env[var]
            sources[key] = var
    for key in ADDRESS_KEYS:
        if key in values:
            try:
                values[key] = check_address(values[key], sources[key])
            except AddressError as exc:
                raise ConfigError(str(exc)) from None
    if "components" in values:
        values["components"] = parse_components(values["components"], sources["components"])
    if "health_grace_seconds" in values:
        key = "health_grace_seconds"
        values[key] = _positive_seconds(values[key], sources[key])
    if "runner_workers" in values:
        values["runner_workers"] = parse_workers(values["runner_workers"], sources["runner_workers"])
    settings = Settings(home=home, **values)
    if settings.agent_runner_mode not in AGENT_RUNNER_MODES:
        raise ConfigError(
            f"agent runner mode {settings.agent_runner_mode!r} is not one of {', '.join(AGENT_RUNNER_MODES)}"
        )
    return settings
