"""Fault injection for the resilience tier: one module per kind of fault, one template (``base``).

- ``processes``: ``Kill``, ``Terminate``, ``Freeze``, ``HoldDown`` of a stack component (by name).
- ``network``: ``LinkProxy``, a loopback TCP proxy per link with Toxiproxy's toxics.
- ``llm``: ``LlmFault`` and rule builders for the LLM stand-in (errors, slow tokens, hang, cut stream...).
- ``disk``: ``DiskFull``, ``ReadOnlyDir``, ``ReadOnlyFile``, ``mounted_home`` (root only).
- ``ledger``: what every injector did; ``leftovers``: what a killed run left, and the sweeps.

``sweep()`` is the teardown that undoes whatever is still in place in this process.
"""

from __future__ import annotations

from support.faults.base import FaultError, FaultUnavailable, Injector, undo_active
from support.faults.ledger import Ledger, LedgerEntry


def sweep() -> list[str]:
    """Undo every fault still in place in this process: injectors, proxies, mounts, stopped processes."""
    from support.faults import leftovers
    from support.faults.network import LinkProxy

    done = undo_active()
    done += [f"closed proxy {name}" for name in LinkProxy.close_all()]
    done += leftovers.sweep_run()
    return done


__all__ = ["FaultError", "FaultUnavailable", "Injector", "Ledger", "LedgerEntry", "sweep", "undo_active"]
