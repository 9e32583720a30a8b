"""Run jobs concurrently while respecting their dependencies (a job starts after the jobs it needs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")


def run_in_order(
    keys: Sequence[str],
    needs: Mapping[str, set[str]],
    job: Callable[[str], T],
    workers: int = 2,
) -> dict[str, T]:
    """``job(key)`` for every key, at most ``workers`` at a time, each after the keys it ``needs``.

    A key whose needs can never be met (unknown key, cycle) runs after everything else, alone and in
    the given order, so a missing dependency shows up as that job's own failure.
    """
    results: dict[str, T] = {}
    pending = list(keys)
    running: dict[Future[T], str] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while pending or running:
            ready = [key for key in pending if needs.get(key, set()) <= results.keys()]
            if not ready and not running:
                ready = pending[:1]
            for key in ready[: max(workers - len(running), 0)]:
                pending.remove(key)
                running[pool.submit(job, key)] = key
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                results[running.pop(future)] = future.result()
    return {key: results[key] for key in keys}
