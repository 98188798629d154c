"""Numbers as people read them (27.1k, 0:42, 0.973): the progress lines', the figures' and the reports' formats."""

from __future__ import annotations


def accuracy(v: float | None) -> str:
    """An accuracy in 0..1 to three places; '  -  ' when there is none."""
    return "  -  " if v is None or v != v else f"{v:.3f}"


def si(value: float | None) -> str:
    """A count with an SI suffix and three significant digits: 27.1k, 1.36M, 950; '-' when there is none."""
    if value is None or value != value:
        return "-"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale * 0.9995:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def duration(seconds: float) -> str:
    """Seconds as m:ss or h:mm:ss; '?' when unknown."""
    if seconds != seconds:
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
