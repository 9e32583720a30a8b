"""Task paths: the key of every task status of an execution.

=====================  =======================================================================
top-level task         ``<name>``                                   e.g. ``fetch``
task in a ``for``      ``<for>/<index>/<name>``; the iteration is ``<for>/<index>``  ``loop/2/post``
fork branch            ``<fork>/<branch>``; tasks inside it ``<fork>/<branch>/<name>``  ``parallel/b/fetch``
task in ``try.do``     ``<try>/<name>``                             ``guard/charge``
task in ``catch.do``   ``<try>/catch/<name>``                       ``guard/catch/notify``
=====================  =======================================================================

Paths nest: a ``for`` inside a fork branch inside a ``try`` gives ``guard/fan/b/loop/0/post``.
Index segments are decimal numbers from 0. (A ``try.do`` task itself named ``catch`` that holds
tasks would share a prefix with the catch block; task names should avoid ``catch`` there.)

Each run of a path is numbered from 1 (a ``then`` that jumps back runs a path again); run 1 keeps
the path as it is, later runs append ``#<n>``: that is the basis of idempotency keys and child
request IDs (``<execution_id>/<path>``), so a retried call is recognisable and a new run is new.
A ``try.catch.retry`` attempt is not a new run: an HTTP / gRPC call keeps its key. A child
execution (``run``, ``agent_call``) created in a retried attempt gets ``~<attempts>`` appended
(the attempt of each enclosing retried ``try``, outermost first: ``~2``, ``~1.3``), since the
child of the failed attempt is finished and its request ID would return it again.
"""

from __future__ import annotations

CATCH = "catch"


def child(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def iteration(for_path: str, index: int) -> str:
    return f"{for_path}/{index}"


def catch_block(try_path: str) -> str:
    return f"{try_path}/{CATCH}"


def run_key(execution_id: str, path: str, run: int) -> str:
    """The stable key of one run of a path: idempotency key and child request ID."""
    key = f"{execution_id}/{path}"
    return key if run <= 1 else f"{key}#{run}"


def attempt_suffix(attempts: list[int]) -> str:
    """``~<a>.<b>`` for the attempts of the enclosing ``try`` blocks; empty when all are first attempts."""
    return "~" + ".".join(str(n) for n in attempts) if any(n > 1 for n in attempts) else ""
