"""The benchmark's results: one ``Metric`` per number, its verdict against a target, and the table.

A metric holds raw samples (seconds, or megabytes for memory); its row shows the median, the p95 when
a p95 target is set, and ``ok`` / ``OVER`` against the targets. Nothing here asserts.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

SECONDS = "s"
MEGABYTES = "MB"
COLUMNS = ("metric", "unit", "runs", "median", "p95", "min", "max", "target", "verdict", "note")


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (nearest rank: the smallest value with at least that
    share of the samples at or below it)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = math.ceil(fraction * len(ordered) - 1e-9)  # the tolerance: 0.95 * 20 is 19.000000000000004
    return ordered[min(len(ordered), max(rank, 1)) - 1]


@dataclass
class Metric:
    """One measured quantity: its samples and targets (None: no target, shown as ``-``)."""

    name: str
    target: float | None
    samples: list[float] = field(default_factory=list)
    target_p95: float | None = None
    unit: str = SECONDS
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def p95(self) -> float | None:
        return percentile(self.samples, 0.95) if self.samples else None

    def verdict(self) -> str:
        """``ok`` when every set target is met, ``OVER`` when one is missed, ``-`` when nothing to judge."""
        checks = [(self.median, self.target), (self.p95, self.target_p95)]
        judged = [value <= target for value, target in checks if value is not None and target is not None]
        if not judged:
            return "-"
        return "ok" if all(judged) else "OVER"

    def describe_target(self) -> str | None:
        """``0.4`` (the median's), or ``p50<=0.25 p95<=0.6`` when a p95 target is set too."""
        if self.target_p95 is None:
            return None if self.target is None else f"{self.target:g}"
        median = f"p50<={self.target:g} " if self.target is not None else ""
        return f"{median}p95<={self.target_p95:g}"

    def row(self) -> dict[str, object]:
        return {
            "metric": self.name,
            "unit": self.unit,
            "runs": len(self.samples),
            "median": self.median,
            "p95": self.p95 if len(self.samples) > 1 else None,
            "min": min(self.samples, default=None),
            "max": max(self.samples, default=None),
            "target": self.describe_target(),
            "verdict": self.verdict(),
            "note": self.note,
        }


def render(rows: list[dict[str, object]]) -> str:
    """A plain-text table of metric rows (floats to 3 decimals, None as ``-``)."""

    def fmt(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if value < 100 else f"{value:.1f}"
        return "-" if value is None or value == "" else str(value)

    table = [list(COLUMNS)] + [[fmt(row.get(key)) for key in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table
    )
