"""A plain-text table of bench rows, for the bench's terminal output (CPU and GPU benches alike)."""

from __future__ import annotations


def table(rows: list[dict], cols: list[str]) -> str:
    """``rows`` under the headings ``cols``, each column as wide as its widest cell."""
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    line = lambda vals: "  ".join(str(v).ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(cols), line("-" * w for w in widths), *(line(r.get(c, "") for c in cols) for r in rows)])
