"""What the front says about its one model: ``/api/tags`` and ``/api/show`` bodies, Ollama's shapes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from support.llm_local.model_file import MODEL_NAME, MODEL_TITLE, ModelFile
from support.llm_local.request import MODEL_DEFAULTS


def _details(model: ModelFile) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "135M",
        "quantization_level": model.quantization,
    }


def _modified_at(model: ModelFile) -> str:
    return datetime.fromtimestamp(model.path.stat().st_mtime, UTC).isoformat().replace("+00:00", "Z")


def tags(model: ModelFile) -> dict[str, Any]:
    """The body of ``GET /api/tags``."""
    digest = hashlib.sha256(f"{model.path.name}:{model.size}".encode()).hexdigest()
    entry = {"name": MODEL_NAME, "model": MODEL_NAME, "size": model.size, "digest": digest}
    return {"models": [{**entry, "modified_at": _modified_at(model), "details": _details(model)}]}


def show(model: ModelFile) -> dict[str, Any]:
    """The body of ``POST /api/show``: the file, the defaults (as a Modelfile's parameters), capabilities."""
    parameters = "\n".join(f"{name} {value}" for name, value in MODEL_DEFAULTS.items())
    return {
        "modelfile": f"# {MODEL_TITLE} served by support.llm_local (llama.cpp via xllamacpp)\nFROM {model.path}\n",
        "parameters": parameters,
        "template": "(the GGUF file's chat template, applied by llama.cpp)",
        "details": _details(model),
        "model_info": {"general.architecture": "llama", "general.basename": MODEL_TITLE},
        "capabilities": ["completion", "tools"],
        "modified_at": _modified_at(model),
    }
