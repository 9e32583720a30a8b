"""Stigmer: the local stack (CLI, server, daemon, runners) and the Python SDK.

The SDK's names (``Agent``, ``Workflow``, ``tasks``, ``synthesize`` ...) are importable from here;
they load on first use so that the CLI starts fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    import importlib
    import importlib.util

    # A submodule (`from stigmer import config`) is for the import system to load, not the SDK.
    if name.startswith("__") or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        raise AttributeError(name)
    sdk = importlib.import_module("stigmer.sdk")
    try:
        return getattr(sdk, name)
    except AttributeError:
        raise AttributeError(f"module 'stigmer' has no attribute {name!r}") from None
