"""support.ordering: jobs run concurrently, each after the jobs it needs."""

from __future__ import annotations

import threading

from support.ordering import run_in_order


def test_every_job_runs_once_and_results_keep_the_given_order() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def job(key: str) -> str:
        with lock:
            calls.append(key)
        return key.upper()

    assert run_in_order(["b", "a", "c"], {}, job, workers=2) == {"b": "B", "a": "A", "c": "C"}
    assert sorted(calls) == ["a", "b", "c"]


def test_a_job_starts_after_the_jobs_it_needs() -> None:
    finished: list[str] = []
    lock = threading.Lock()

    def job(key: str) -> None:
        with lock:
            if key == "16":
                assert "01" in finished, "16 started before 01 finished"
            finished.append(key)

    run_in_order(["16", "02", "01", "03"], {"16": {"01"}}, job, workers=3)
    assert finished.index("01") < finished.index("16")


def test_unmeetable_needs_still_run_last() -> None:
    order: list[str] = []
    run_in_order(["x", "y"], {"x": {"missing"}}, order.append, workers=2)
    assert order == ["y", "x"]
