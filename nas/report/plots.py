"""Figures of one or more searches: accuracy against parameters and FLOPs, best so far, an architecture.

    from nas.report import plots
    plots.plot_results("results/digits-evolution", "figures/")              # PNG and SVG of each figure
    plots.plot_results(["results/a", "results/b"], "figures/", trial="best")

The charts are matplotlib `Figure` objects on the Agg canvas, made without pyplot, so they leave
pyplot's state alone; architectures are drawn by `searchspace.render` (pyplot, Agg). matplotlib is
imported only when a figure is made. Accuracy is validation accuracy; parameter and FLOP axes are
logarithmic. Only ok trials are plotted; the title says how many others were left out, by status.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nas import objectives
from nas.human import si
from nas.record import results
from nas.record.folder import Layout
from nas.status import Status

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PathsOrFrame = str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | pd.DataFrame
AXES = {
    "params": "trainable parameters",
    "flops": "FLOPs per image (one forward pass)",
    "latency_ms": "inference latency at batch 1, ms (median, the trial's device)",
}
TITLES = {"params": "parameters", "flops": "FLOPs", "latency_ms": "latency"}
DPI = 150
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass(frozen=True)
class Score:
    """The metric the figures show on their y axis and rank by, with its direction."""

    name: str = "val_acc"
    sense: str = "max"

    @property
    def label(self) -> str:
        return "validation accuracy" if self.name == "val_acc" else self.name

    @property
    def title(self) -> str:
        """The label at the start of a title: a metric's own name stays as it is."""
        return "Validation accuracy" if self.name == "val_acc" else self.name

    @property
    def percent(self) -> bool:
        """Whether the values are fractions shown as percent (accuracy)."""
        return self.name.endswith("_acc")

    @classmethod
    def of(cls, config: dict[str, Any]) -> Score:
        """A search's score: its objectives' first metric that is not a cost (`nas.objectives.score`)."""
        try:
            return cls(*objectives.score(config.get("objectives") or ()))
        except (ValueError, TypeError):
            return cls()

    def fmt(self, value: Any) -> str:
        return f"{float(value):.1%}" if self.percent else f"{float(value):.4g}"


VAL_ACC = Score()


@dataclass(frozen=True)
class Search:
    """One search's trials (search column made unique among those loaded) and its saved config."""

    name: str
    trials: pd.DataFrame
    path: Path | None = None  # the results folder; None for a DataFrame handed in
    config: dict[str, Any] = field(default_factory=dict)  # config.json, {} when there is none

    @property
    def score(self) -> Score:
        return Score.of(self.config)


def score_of(searches: list[Search]) -> Score:
    """What a figure or summary of several searches shows: their score when they share one, else validation
    accuracy (each search's own section still ranks by its own score)."""
    scores = {s.score for s in searches}
    return scores.pop() if len(scores) == 1 else VAL_ACC


# ----------------------------------------------------------------------------- loading


def load_searches(paths_or_df: PathsOrFrame) -> list[Search]:
    """Searches from a results folder, a trials.jsonl, a folder of results folders, a list of those, or a DataFrame."""
    if isinstance(paths_or_df, pd.DataFrame):
        df = paths_or_df if "search" in paths_or_df.columns else paths_or_df.assign(search="search")
        return [Search(str(n), df[(df["search"] == n).to_numpy(dtype=bool)]) for n in df["search"].unique()]
    paths = [paths_or_df] if isinstance(paths_or_df, str | os.PathLike) else list(paths_or_df)
    if not paths:
        raise ValueError("no results folder given")
    folders = [folder for p in paths for folder in _record_paths(Path(p))]
    found: list[Search] = []
    taken: set[str] = set()
    for folder in folders:
        df = results.load(folder)
        name = _unique(str(df["search"].iloc[0]) if len(df) else folder.name, taken)
        df["search"] = pd.array([name] * len(df), dtype="str")
        found.append(Search(name, df, folder, read_config(folder)))
    return found


def combined(searches: list[Search]) -> pd.DataFrame:
    """All searches' trials in one frame, in the order given."""
    frames = [s.trials for s in searches]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _record_paths(path: Path) -> list[Path]:
    """The record a path names, or the records of the results folders directly inside it."""
    if path.is_file() or (path / results.JSONL).is_file():
        return [path]
    if path.is_dir():
        inside = sorted(p for p in path.iterdir() if (p / results.JSONL).is_file())
        if inside:
            return inside
    raise ValueError(
        f"no results at {path}: expected a results folder (with {results.JSONL}), "
        f"a {results.JSONL} file, or a folder of results folders"
    )


def _unique(name: str, taken: set[str]) -> str:
    """The name, or name (2), name (3), ... if an earlier search already has it."""
    unique, k = name, 1
    while unique in taken:
        k += 1
        unique = f"{name} ({k})"
    taken.add(unique)
    return unique


def read_config(path: Path) -> dict[str, Any]:
    """The search's config.json, or {} when it is missing or unreadable."""
    folder = path.parent if path.is_file() else path
    try:
        config = json.loads((folder / Layout.CONFIG).read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


# ----------------------------------------------------------------------------- trials


def plotted(df: pd.DataFrame, x: str = "params", score: Score = VAL_ACC) -> pd.DataFrame:
    """The ok trials with a finite score (validation accuracy, or the search's own metric) and a positive x value
    (what the figures show)."""
    ok = df[(df["status"] == Status.OK).to_numpy(dtype=bool, na_value=False)]
    if score.name not in ok.columns or x not in ok.columns:
        return ok[:0]
    values = ok[x].to_numpy(dtype="float64", na_value=np.nan)
    keep = np.isfinite(ok[score.name].to_numpy(dtype="float64", na_value=np.nan)) & (values > 0)
    return ok[keep]


def has_latency(df: pd.DataFrame, score: Score = VAL_ACC) -> bool:
    """Whether any plotted trial recorded its latency."""
    return "latency_ms" in df.columns and not plotted(df, "latency_ms", score).empty


def left_out(df: pd.DataFrame, shown: int) -> str:
    """What the title says about trials not shown, e.g. 'not shown: 2 rejected, 1 oom'."""
    counts = df.loc[df["status"] != Status.OK, "status"].value_counts()
    parts = [f"{k} {s}" for s, k in counts.items()]
    other = len(df) - shown - int(counts.sum())
    if other:
        parts.append(f"{other} ok without a value")
    return "not shown: " + ", ".join(parts) if parts else "no failed trials"


def controllers(df: pd.DataFrame) -> str:
    """The controller(s) of a search, e.g. 'evolution'."""
    names = [str(c) for c in df["controller"].dropna().unique()] if "controller" in df.columns else []
    return "+".join(names) or "unknown controller"


def zoo_names(df: pd.DataFrame) -> list[str | None]:
    """The zoo architecture each row was seeded from (its meta "zoo"), else None."""
    if "meta" not in df.columns:
        return [None] * len(df)
    return [_zoo_of(meta) for meta in df["meta"]]


def _zoo_of(meta: Any) -> str | None:
    if not isinstance(meta, str):
        return None
    try:
        data = json.loads(meta)
    except ValueError:
        return None
    zoo = data.get("zoo") if isinstance(data, dict) else None
    return str(zoo) if zoo else None


# ----------------------------------------------------------------------------- figures


def accuracy_figure(df: pd.DataFrame, x: str = "params", score: Score = VAL_ACC) -> Figure:
    """The score (validation accuracy, or the search's own metric) against params, flops or latency (log x), one
    colour per search, fronts and zoo labelled."""
    if x not in AXES:
        raise ValueError(f"x must be one of {sorted(AXES)}, got {x!r}")
    fig, ax = _figure()
    zoo: list[tuple[float, float, str, str]] = []
    for (search, part), color in zip(df.groupby("search", sort=False), _colors(), strict=False):
        shown = plotted(part, x, score)
        xs, ys = _floats(shown[x]), _floats(shown[score.name])
        ax.scatter(
            xs,
            ys,
            s=26,
            color=color,
            alpha=0.55,
            lw=0,
            label=_mpl(f"{search} ({controllers(part)}), {_n(len(shown), 'trial')}"),
        )
        front = results.pareto_front(shown, {score.name: score.sense, x: "min"}).sort_values(x)
        ax.plot(
            _floats(front[x]),
            _floats(front[score.name]),
            drawstyle="steps-post",
            color=color,
            lw=1.8,
            marker="o",
            ms=6.5,
            mec="black",
            mew=0.8,
            label=_mpl(f"{search}: Pareto front ({len(front)})"),
            zorder=3,
        )
        names = zoo_names(shown)
        zoo += [(a, b, n, color) for a, b, n in zip(xs, ys, names, strict=True) if n]
    if zoo:
        za, zb, _, zc = zip(*zoo, strict=True)
        ax.scatter(
            za, zb, s=190, marker="*", c=list(zc), edgecolors="black", lw=0.8, zorder=4, label="zoo architecture"
        )
    _style(ax, df, x, score)
    _label_points(fig, ax, zoo, _points(df, x, score))
    return fig


def best_so_far_figure(df: pd.DataFrame, score: Score = VAL_ACC) -> Figure:
    """Best score (validation accuracy, or the search's own metric) so far against trial number (order of
    completion), one line per search."""
    from matplotlib import ticker

    fig, ax = _figure()
    longest, accuracies = 1, []
    for (search, part), color in zip(df.groupby("search", sort=False), _colors(), strict=False):
        part = part.sort_values("trial", kind="stable")
        n = np.arange(1, len(part) + 1)
        ok = (part["status"] == Status.OK).to_numpy(dtype=bool, na_value=False)
        values = _floats(part[score.name]) if score.name in part.columns else np.full(len(part), np.nan)
        acc = np.where(ok, values, np.nan)
        sign = 1.0 if score.sense == "max" else -1.0  # the best of a min metric is the cummax of its negation
        best = sign * pd.Series(sign * acc).cummax().ffill().to_numpy()
        new_best = np.isfinite(acc) & (acc == best) & ~(sign * np.append(np.nan, best[:-1]) >= sign * best)
        ax.scatter(n, acc, s=14, color=color, alpha=0.35, lw=0)
        ax.plot(n, best, drawstyle="steps-post", color=color, lw=2, label=_mpl(f"{search} ({controllers(part)})"))
        ax.plot(n[new_best], best[new_best], "o", color=color, ms=5, mec="black", mew=0.6)
        longest, accuracies = max(longest, len(part)), [*accuracies, acc]
    ax.set_xlim(0.5, longest + 0.5)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("trial (order of completion)")
    _score_axis(ax, f"best {score.label} so far", np.concatenate(accuracies), score)
    ok_total = int((df["status"] == Status.OK).sum())
    best_of = "highest" if score.sense == "max" else "lowest"
    ax.set_title(
        f"Best {_mpl(score.label)} so far ({best_of}; circles: a new best)\n"
        f"{_n(ok_total, 'ok trial')}, dots: each trial; {left_out(df, ok_total)}",
        fontsize=11,
    )
    ax.legend(loc="best", fontsize=9, framealpha=0.9)
    return fig


def render_architecture(row: pd.Series, path: str | os.PathLike[str], score: Score | None = None) -> Path:
    """Draw a trial's genotype (format from the suffix) with `searchspace.render`, titled with its results."""
    import matplotlib

    from searchspace.genotype import Genotype
    from searchspace.render import render

    genotype = row.get("genotype")
    if not isinstance(genotype, str):
        raise ValueError(f"trial {row.get('trial_id')!r} has no genotype to draw")
    with matplotlib.rc_context({"savefig.dpi": DPI}):  # render saves at the default dpi, too small in PNG
        return render(Genotype.from_json(genotype), path, title=_mpl(trial_title(row, score)))


def trial_title(row: pd.Series, score: Score | None = None) -> str:
    """One line naming a trial and its results, e.g. 'demo 00009: val 95.1%, test 92.8%, 1.36M params, 37.7M FLOPs'."""
    bits = [f"{row.get('search', '')} trial {row.get('trial_id')}".strip()]
    if row.get("status") != Status.OK:
        bits.append(str(row.get("status")))
    for key, label in (("val_acc", "val"), ("test_acc", "test")):
        if _finite(row.get(key)):
            bits.append(f"{label} {float(row[key]):.1%}")
    if score is not None and score.name not in ("val_acc", "test_acc") and _finite(row.get(score.name)):
        bits.append(f"{score.name} {score.fmt(row[score.name])}")
    for key, label in (("params", "params"), ("flops", "FLOPs")):
        if _finite(row.get(key)):
            bits.append(f"{si(float(row[key]))} {label}")
    return bits[0] + ": " + ", ".join(bits[1:]) if len(bits) > 1 else bits[0]


def save(fig: Figure, out_dir: Path, stem: str, formats: Iterable[str]) -> list[Path]:
    """Write the figure as out_dir/stem.<format> for each format."""
    import matplotlib

    written = []
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG labels stay text: smaller, searchable
        for fmt in formats:
            path = out_dir / f"{stem}.{fmt}"
            fig.savefig(path, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
            written.append(path)
    return written


def svg_text(fig: Figure) -> str:
    """The figure as an <svg> element to inline in HTML (no XML prolog)."""
    with tempfile.TemporaryDirectory() as tmp:
        (path,) = save(fig, Path(tmp), "figure", ["svg"])
        return inline_svg(path.read_text(encoding="utf-8"))


def inline_svg(text: str) -> str:
    """An SVG document's <svg> element, without the XML declaration, DOCTYPE and RDF metadata."""
    start = text.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document")
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text[start:], count=1, flags=re.S)


def plot_results(
    paths_or_df: PathsOrFrame,
    out_dir: str | os.PathLike[str],
    *,
    trial: str | None = None,
    formats: Iterable[str] = ("png", "svg"),
) -> list[Path]:
    """Write accuracy_vs_params, accuracy_vs_flops, best_so_far and architecture_<trial> in each format."""
    formats = _formats(formats)
    searches = load_searches(paths_or_df)
    df, score = combined(searches), score_of(searches)
    if plotted(df, "params", score).empty:
        where = ", ".join(s.name for s in searches)
        raise ValueError(
            f"no ok trials to plot in {where or 'the results'} ({len(df)} recorded; {left_out(df, 0)}; "
            f"scored by {score.name})"
        )
    row = results.find_trial(df, trial, metric=score.name, mode=score.sense)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, make in (
        ("accuracy_vs_params", lambda: accuracy_figure(df, "params", score)),
        ("accuracy_vs_flops", lambda: accuracy_figure(df, "flops", score)),
        ("best_so_far", lambda: best_so_far_figure(df, score)),
        *(
            [("accuracy_vs_latency", lambda: accuracy_figure(df, "latency_ms", score))]
            if has_latency(df, score)
            else []
        ),
    ):
        written += save(make(), out, stem, formats)
    stem = "architecture_" + _file_part(row["trial_id"] if len(searches) == 1 else f"{row['search']}-{row['trial_id']}")
    written += [render_architecture(row, out / f"{stem}.{fmt}", score) for fmt in formats]
    return written


# ----------------------------------------------------------------------------- drawing helpers


def _figure() -> tuple[Figure, Axes]:
    """A new Agg-backed figure with one axes, no pyplot involved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def _colors() -> Iterable[str]:
    while True:
        yield from PALETTE


def _style(ax: Axes, df: pd.DataFrame, x: str, score: Score = VAL_ACC) -> None:
    """Log x axis with SI tick labels, percent y axis, title and a legend outside the plot."""
    from matplotlib import ticker

    ax.set_xscale("log")
    if x == "latency_ms":  # milliseconds, not counts
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.xaxis.set_major_formatter(_count_formatter(minor=False))
        ax.xaxis.set_minor_formatter(_count_formatter(minor=True))
    ax.set_xlabel(f"{AXES[x]} (log scale)")
    ax.grid(True, which="minor", axis="x", alpha=0.12)
    _score_axis(ax, score.label, _points(df, x, score)[:, 1], score)
    ax.set_title(_mpl(f"{score.title} vs {TITLES[x]}") + f"\n{_subtitle(df, x, score)}", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, framealpha=0.9, borderaxespad=0)
    ax.tick_params(axis="x", which="minor", labelsize=8)
    ax.xaxis.set_minor_locator(ticker.LogLocator(subs=(2, 3, 5)))


def _score_axis(ax: Axes, label: str, values: np.ndarray, score: Score) -> None:
    """The y axis: accuracy as percent (`_accuracy_axis`); another metric around its values, as they are."""
    if score.percent:
        _accuracy_axis(ax, label, values)
        return
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    pad = max(abs(high - low) * 0.06, 1e-6 + abs(high) * 1e-3)
    ax.set_ylim(low - pad, high + pad)
    ax.set_ylabel(_mpl(label + (" (higher is better)" if score.sense == "max" else " (lower is better)")))


def _accuracy_axis(ax: Axes, label: str, values: np.ndarray) -> None:
    """Percent y axis around the accuracies, at least 10 points tall, within 0..100%."""
    from matplotlib import ticker

    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    pad = max(0.05, (high - low) * 0.06)
    low, high = max(low - pad, -0.01), min(high + pad, 1.01)
    if high - low < 0.1:  # near 0% or 100%: grow away from the bound
        low, high = (low, low + 0.1) if low < 0.5 else (high - 0.1, high)
    ax.set_ylim(low, high)
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(1.0, decimals=0))
    ax.set_ylabel(label)


def _subtitle(df: pd.DataFrame, x: str, score: Score = VAL_ACC) -> str:
    shown = sum(len(plotted(part, x, score)) for _, part in df.groupby("search", sort=False))
    searches = df["search"].nunique()
    head = f"{searches} searches, " if searches > 1 else f"{df['search'].iloc[0]}: "
    return _mpl(f"{head}{_n(shown, 'ok trial')}; {left_out(df, shown)}")


def _mpl(text: str) -> str:
    """Text shown literally by matplotlib, which reads $...$ as mathtext."""
    return text.replace("$", r"\$")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _count_formatter(*, minor: bool) -> Any:
    """A tick formatter writing counts with SI suffixes; minor ticks labelled only on short axes."""
    from matplotlib import ticker

    class CountFormatter(ticker.Formatter):
        def __call__(self, value: float, pos: int | None = None) -> str:
            if value <= 0:
                return ""
            if minor:
                low, high = self.axis.get_view_interval()
                decades = math.log10(max(high, 1e-300) / max(low, 1e-300))
                mantissa = round(value / 10 ** math.floor(math.log10(value) + 1e-9), 6)
                labelled = (2, 3, 5) if decades <= 1.2 else (2, 5) if decades <= 2.2 else (3,) if decades <= 3.5 else ()
                if mantissa not in labelled:
                    return ""
            return si(value)

    return CountFormatter()


def _points(df: pd.DataFrame, x: str, score: Score = VAL_ACC) -> np.ndarray:
    """Data coordinates (x, score) of every plotted trial, so labels can avoid them."""
    shown = plotted(df, x, score)
    return np.column_stack([_floats(shown[x]), _floats(shown[score.name])])


OFFSETS = (
    (9, 9),
    (9, -9),
    (-9, 9),
    (-9, -9),
    (0, 16),
    (0, -16),
    (22, 0),
    (-22, 0),
    (14, 26),
    (14, -26),
    (-14, 26),
    (-14, -26),
)


def _label_points(fig: Figure, ax: Axes, labels: list[tuple[float, float, str, str]], points: np.ndarray) -> None:
    """Annotate points with names, each at the first nearby offset that overlaps no label, point or edge."""
    if not labels:
        return
    from matplotlib.text import Text

    fig.canvas.draw()  # lay the figure out so display coordinates are final
    renderer = fig.canvas.get_renderer()
    shown = ax.transData.transform(points) if len(points) else np.empty((0, 2))
    placed: list[Any] = []
    for x, y, name, color in sorted(labels, key=lambda t: (-t[1], t[0])):
        anchor = ax.transData.transform((x, y))
        avoid = shown[np.hypot(*(shown - anchor).T) > 1.0]  # every point but the one labelled
        text = ax.annotate(
            _mpl(name),
            (x, y),
            xytext=OFFSETS[0],
            textcoords="offset points",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": color, "lw": 0.8, "alpha": 0.85},
            arrowprops={"arrowstyle": "-", "color": color, "lw": 0.8, "shrinkA": 0, "shrinkB": 5},
            zorder=5,
            in_layout=False,
        )
        costs = []
        for dx, dy in OFFSETS:
            _place(text, dx, dy, renderer)
            box = Text.get_window_extent(text, renderer).padded(3)  # the text and its frame, not the leader line
            costs.append(_overlap_cost(box, placed, avoid, ax.bbox))
            if costs[-1] == 0:
                break
        _place(text, *OFFSETS[int(np.argmin(costs))], renderer)
        placed.append(Text.get_window_extent(text, renderer).padded(3))


def _place(text: Any, dx: float, dy: float, renderer: Any) -> None:
    """Put an annotation's text at an offset from its point, aligned away from it."""
    text.xyann = (dx, dy)
    text.set_horizontalalignment("left" if dx > 0 else "right" if dx < 0 else "center")
    text.set_verticalalignment("bottom" if dy > 0 else "top" if dy < 0 else "center")
    text.update_positions(renderer)  # the text's transform for its offset, so its extent can be measured


def _overlap_cost(box: Any, placed: list[Any], avoid: np.ndarray, frame: Any) -> float:
    """How bad a label position is: outside the axes, overlapping other labels, covering points."""
    cost = 100.0 * sum(box.overlaps(other) for other in placed)
    if box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1:
        cost += 1000.0
    padded = box.padded(7)  # a front marker's radius
    inside = (
        (avoid[:, 0] > padded.x0) & (avoid[:, 0] < padded.x1) & (avoid[:, 1] > padded.y0) & (avoid[:, 1] < padded.y1)
    )
    return cost + float(inside.sum())


def _floats(column: pd.Series) -> np.ndarray:
    return column.to_numpy(dtype="float64", na_value=np.nan)


def _finite(value: Any) -> bool:
    try:
        return value is not None and not pd.isna(value) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _formats(formats: Iterable[str]) -> list[str]:
    """The formats, checked against what matplotlib can write."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = [formats] if isinstance(formats, str) else list(formats)
    known = FigureCanvasBase.get_supported_filetypes()
    bad = [f for f in formats if f not in known]
    if not formats or bad:
        raise ValueError(f"formats must be a non-empty list of {', '.join(sorted(known))}; got {formats!r}")
    return formats


def _file_part(text: str) -> str:
    """Text safe as part of a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "trial"
