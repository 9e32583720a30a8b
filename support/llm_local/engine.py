"""llama.cpp's server, started in this process through ``xllamacpp`` on a loopback port from the OS.

It serves the OpenAI-compatible API (``/v1/chat/completions``, ``/health``); the front translates the
Ollama API onto it. Run it inside ``python -m support.llm_local`` (its own process), so that a tier can
kill it with its whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from support.llm_local.model_file import ModelFile

DEFAULT_CONTEXT = 4096


@dataclass
class Engine:
    """A running llama.cpp server: its base URL (``http://127.0.0.1:PORT``) and the object that keeps it."""

    url: str
    threads: int
    context: int
    server: Any

    def stop(self) -> None:
        """Drop the server (xllamacpp stops it when the object goes). Idempotent."""
        self.server = None


def start_engine(model: ModelFile, *, threads: int = 1, context: int = DEFAULT_CONTEXT) -> Engine:
    """Load ``model`` and serve it; returns once llama.cpp listens (the model is loaded by then)."""
    import xllamacpp  # type: ignore[import-untyped,import-not-found,unused-ignore]  # no stubs; the extra may be absent

    params = xllamacpp.CommonParams()
    params.model.path = str(model.path)
    params.n_ctx = context
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    server = xllamacpp.Server(params)
    return Engine(str(server.listening_address).rstrip("/"), threads, context, server)
