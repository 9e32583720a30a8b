"""The report's plots: horizontal bar charts drawn by matplotlib (Agg, no display), returned as inline
SVG text so the HTML file needs nothing beside it. ``None`` when matplotlib is not installed (the
report then says so: it is the ``report`` extra)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence

MISSING = "plots unavailable: matplotlib is not installed (pip install -e '.[report]')"
_salts = itertools.count()


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def bar_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], unit: str) -> str | None:
    """A grouped horizontal bar chart (one bar per series and label; a missing value draws no bar), as SVG."""
    if not available() or not labels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    # text stays text (smaller, selectable); a salt per figure keeps element ids unique in one page
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"plot-{next(_salts)}"}):
        height = 1.2 + 0.28 * len(labels) * max(len(series), 1)
        figure = Figure(figsize=(9, min(height, 40)), layout="constrained")
        axes = figure.subplots()
        bar = 0.8 / max(len(series), 1)
        colours = matplotlib.colormaps["tab10"]
        for index, (name, values) in enumerate(series.items()):
            positions = [row + index * bar for row in range(len(labels))]
            widths = [value if value is not None else 0.0 for value in values]
            axes.barh(positions, widths, height=bar, label=name, color=colours(index))
        axes.set_yticks(
            [row + bar * (len(series) - 1) / 2 for row in range(len(labels))], labels=list(labels), fontsize=8
        )
        axes.invert_yaxis()
        axes.set_xlabel(unit)
        axes.set_title(title)
        axes.grid(axis="x", alpha=0.3)
        if len(series) > 1:
            axes.legend(fontsize=8)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})  # the same data draws the same page
    text = out.getvalue()
    return text[text.index("<svg") :]  # drop the XML declaration and doctype: the SVG goes inline
