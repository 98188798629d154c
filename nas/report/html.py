"""One self-contained HTML page summarising one or more searches, to open in any browser or attach.

    from nas.report import html as html_report
    html_report.write_report("results/digits-evolution")              # -> results/digits-evolution/report.html
    html_report.write_report("results")                                # every search under results/, compared
    html_report.write_report(["results/a", "results/b"], "ab.html")

The page needs no server and nothing from the network: CSS is inline and every figure is an inline
SVG. All text from the record (names, ids, errors, op names) is escaped with `html.escape`. The
file is written to a temporary file next to the target and renamed over it, so a browser (or anything)
reading it while a search rewrites it sees the old page or the new one, never half of each.

While a search runs, its driver rewrites the report every few finished trials with a `Live` banner
(progress, running trials, when it was written) and a refresh tag, so an open page follows the search;
the report written at the end has neither.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
import tempfile
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nas import objectives
from nas.human import si
from nas.objectives import FRONT
from nas.record import results
from nas.record.row import PHASES
from nas.report import plots
from nas.report.text import SLOT_WORDS, op_mix, time_lines
from nas.status import Status

REFRESH_SECONDS = 15  # how often a live report reloads itself
MAX_ARCHITECTURES = 12  # architecture drawings per search, best first along the front
MAX_FAILURE_ROWS = 20  # distinct (status, error) rows in a search's failure table

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.muted { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: #555; }
.live { background: #fff6d6; border: 1px solid #e8c95a; padding: 0.5rem 0.8rem; border-radius: 4px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1rem; }
.grid figure { border: 1px solid #eee; padding: 0.5rem; margin: 0; }
"""


@dataclass(frozen=True)
class Live:
    """A running search's progress, for the banner of a report written while it runs."""

    done: int  # trials trained (or failed), counting towards `trials`
    trials: int
    running: int  # trials in flight
    started: float  # unix time the search (this run of it) started

    def banner(self, now: float) -> str:
        clock = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%H:%M:%S UTC")
        minutes = max(0.0, now - self.started) / 60
        return (
            f'<p class="live"><strong>Search running</strong>: {self.done} of {self.trials} trials done, '
            f"{self.running} running, {minutes:.1f} min so far. Written at {clock}; this page reloads every "
            f"{REFRESH_SECONDS} s. If that time stops moving, the search is no longer running "
            "(<code>launch.py show</code> says so).</p>"
        )


def write_report(
    paths_or_root: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_path: str | os.PathLike[str] | None = None,
    live: Live | None = None,
) -> Path:
    """Write the HTML report of the searches; default path <root>/report.html (the common folder of several).

    `live`: the search is running; the page says how far it is and reloads itself (it may have no ok trial yet).
    """
    searches = plots.load_searches(paths_or_root)
    df, score = plots.combined(searches), plots.score_of(searches)
    if plots.plotted(df, "params", score).empty and live is None:
        names = ", ".join(s.name for s in searches)
        raise ValueError(
            f"no ok trials to report in {names} ({len(df)} recorded; {plots.left_out(df, 0)}; scored by {score.name})"
        )
    target = Path(out_path) if out_path is not None else _default_root(paths_or_root, searches) / "report.html"
    page = render_page(searches, live)
    with results.atomic_file(target, "w") as f:
        f.write(page)
    return target


def render_page(searches: list[plots.Search], live: Live | None = None) -> str:
    """The report as one HTML document; with `live`, a banner and a refresh tag."""
    df, score = plots.combined(searches), plots.score_of(searches)
    names = ", ".join(s.name for s in searches)
    now = time.time()
    generated = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sources = ", ".join(str(s.path) for s in searches if s.path is not None)
    parts = [
        f"<h1>NAS report: {_e(names)}</h1>",
        f'<p class="muted">generated {generated}' + (f" from {_e(sources)}" if sources else "") + "</p>",
    ]
    if live is not None:
        parts.append(live.banner(now))
    if plots.plotted(df, "params", score).empty:  # a live search before its first ok trial
        by_status = ", ".join(f"{s} {k}" for s, k in df["status"].value_counts().items()) if len(df) else "none yet"
        parts += [f"<p>No trial has finished ok yet (recorded: {_e(by_status)}).</p>"]
        for search in searches:
            parts += _failures(search.trials)
        return _document(names, parts, live)
    ref = reference_point(df, score)
    label = score.title
    heading = "Accuracy" if score.name == "val_acc" else score.name
    normalised = (
        "; the normalised value divides by that box, so 1 would be 100% accuracy at zero parameters"
        if score.name == "val_acc"
        else ""
    )
    parts += [
        "<h2>Summary</h2>",
        _summary_table(searches, ref, score),
        f'<p class="muted">Hypervolume of each search\'s ({_e(score.name)} {score.sense}, params min) front, measured '
        f"from the reference point {_e(score.name)} = {ref[0]:.4g}, params = {ref[1]:,.0f} (1.1 &times; the most "
        f"parameters of any ok trial here){normalised}. "
        "Compare searches only within one report, where they share the reference point.</p>",
        f"<h2>{_e(heading)} vs parameters</h2>",
        _figure(plots.accuracy_figure(df, "params", score), f"{label} of every ok trial; fronts as step lines."),
        "<h2>Best so far</h2>",
        _figure(plots.best_so_far_figure(df, score), f"Best {score.label} after each trial, in order of completion."),
    ]
    if plots.has_latency(df, score):
        parts += [
            f"<h2>{_e(heading)} vs latency</h2>",
            _figure(
                plots.accuracy_figure(df, "latency_ms", score),
                f"{label} against inference latency at batch 1 (median, measured by each trial on its "
                "device before training; noisy on shared machines).",
            ),
        ]
    for search in searches:
        parts += _search_section(search)
    return _document(names, parts, live)


def _document(names: str, parts: list[str], live: Live | None) -> str:
    refresh = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">\n' if live is not None else ""
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n{refresh}'
        f"<title>NAS report: {_e(names)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def reference_point(df: pd.DataFrame, score: plots.Score = plots.VAL_ACC) -> tuple[float, float]:
    """(score, params) reference for the hypervolume: for a maximised score 0 (or its lowest value, when below 0),
    for a minimised one 1.1 x its largest value; and 1.1 x the most parameters of any ok trial."""
    shown = plots.plotted(df, "params", score)
    params = shown["params"].to_numpy(dtype="float64")
    values = shown[score.name].to_numpy(dtype="float64")
    if score.sense == "max":
        worst = min(0.0, float(values.min()))
    else:
        top = float(values.max())
        worst = top + 0.1 * abs(top) + 1e-12
    return worst, float(params.max()) * 1.1


def hypervolume(df: pd.DataFrame, ref: tuple[float, float], score: plots.Score = plots.VAL_ACC) -> float:
    """Hypervolume of the ok trials' (score, params min) front w.r.t. ref."""
    senses = {score.name: score.sense, "params": "min"}
    return results.hypervolume(plots.plotted(df, "params", score), list(ref), senses)


# ----------------------------------------------------------------------------- sections


def _summary_table(searches: list[plots.Search], ref: tuple[float, float], score: plots.Score) -> str:
    head = [
        "search",
        "controller",
        "dataset",
        "epochs",
        "trials",
        "by status",
        "best val acc" if score.name == "val_acc" else f"best {score.name}",
        "its test acc",
        "its params",
        "front",
        "hypervolume",
        "normalised",
    ]
    rows = [_summary_row(s, ref, score) for s in searches]
    return _table(head, rows, numeric={3, 4, 6, 7, 8, 9, 10, 11})


def _summary_row(search: plots.Search, ref: tuple[float, float], score: plots.Score) -> list[object]:
    df = search.trials
    counts = df["status"].value_counts()
    by_status = ", ".join(f"{k} {s}" for s, k in counts.items())
    config, train = search.config, search.config.get("train", {})
    row = [search.name, plots.controllers(df), config.get("dataset", ""), train.get("epochs", ""), len(df), by_status]
    shown = plots.plotted(df, "params", score)
    if shown.empty:
        return [*row, "", "", "", 0, 0, 0]
    senses = objectives.saved_front(config) or {}
    if not set(senses) <= set(shown.columns):  # an objective no trial recorded: the score alone
        senses = {}
    best = results.best(shown, metric=score.name, mode=score.sense, objectives=senses)
    hv = hypervolume(df, ref, score)
    front = results.pareto_front(shown, {score.name: score.sense, "params": "min"})
    return [
        *row,
        f"{score.fmt(best[score.name])} ({best['trial_id']})",
        _pct(best["test_acc"]),
        _count(best["params"]),
        len(front),
        f"{hv:.4g}",
        f"{hv / (1.0 * ref[1]):.4f}" if score.name == "val_acc" else "-",
    ]


def _search_section(search: plots.Search) -> list[str]:
    """A search's heading, front table (its own objectives' front when they name latency or its own metrics),
    front architectures and failures; ranked by its own score."""
    score = search.score
    senses = objectives.saved_front(search.config) or dict(FRONT)
    if not set(senses) <= set(search.trials.columns):  # an objective no trial recorded: the score and params
        senses = {score.name: score.sense, "params": "min"}
    shown = plots.plotted(search.trials, "latency_ms" if "latency_ms" in senses else "params", score)
    shown = shown[np.isfinite(shown[list(senses)].to_numpy(dtype="float64", na_value=np.nan)).all(axis=1)]
    parts = [f"<h2>Search {_e(search.name)}</h2>"]
    if shown.empty:
        return [*parts, "<p>No ok trials.</p>", *_failures(search.trials)]
    front = results.pareto_front(shown, senses)
    described = ", ".join(f"{k} {v}" for k, v in senses.items())
    parts += [
        f"<h3>Pareto front ({_e(described)}): {len(front)} of {len(shown)} ok trials</h3>",
        _front_table(front, score),
        "<h3>Architectures on the front</h3>",
    ]
    drawn = front.head(MAX_ARCHITECTURES)
    if len(front) > len(drawn):
        best = "most accurate" if score.name == "val_acc" else f"best by {score.name}"
        parts.append(f'<p class="muted">The {len(drawn)} {_e(best)} of {len(front)} front members.</p>')
    parts.append('<div class="grid">' + "".join(_architecture(row, score) for _, row in drawn.iterrows()) + "</div>")
    return parts + _proxies(search.trials, score) + _time(search.trials) + _failures(search.trials)


def _proxies(df: pd.DataFrame, score: plots.Score) -> list[str]:
    """How the zero-cost proxies this search recorded ranked its trained trials (its own data, its own space)."""
    corr = results.proxy_correlation(df, score.name) if score.name in df.columns else pd.DataFrame()
    if corr.empty:
        return []
    corr = corr.sort_values("spearman", ascending=False, na_position="last")
    rows = [[r.proxy, f"{r.spearman:+.2f}" if _finite(r.spearman) else "-", f"{r.p:.2g}" if _finite(r.p) else "-", r.n]
            for r in corr.itertuples()]  # fmt: skip
    return [
        f"<h3>Zero-cost proxies vs {_e(score.label)}</h3>",
        '<p class="muted">Spearman rank correlation of each proxy, scored at initialisation, with the trained '
        f"{_e(score.label)} over this search's trials: how far a proxy could have stood in for training here.</p>",
        _table(["proxy", "Spearman", "p", "trials"], rows, numeric={1, 2, 3}),
    ]


def _time(df: pd.DataFrame) -> list[str]:
    """Where the search's time went: its trials' seconds by phase, and its slots' by what they were doing."""
    spent = results.time_spent(df)
    if spent.empty:
        return []
    parts = ["<h3>Where the time went</h3>"]
    parts += [f'<p class="muted">{_e(line.strip())}</p>' for line in time_lines(df)]
    phases = spent[spent["kind"] == "phase"].sort_values("seconds", ascending=False, kind="stable")
    if len(phases):
        rows = [[r.part, f"{r.seconds:,.1f}", f"{r.share:.1%}", PHASES.get(r.part, "")] for r in phases.itertuples()]
        parts.append(_table(["phase", "trial-seconds", "share", "what"], rows, numeric={1, 2}))
    slots = spent[spent["kind"] == "slot"]
    if len(slots):
        rows = [[SLOT_WORDS.get(r.part, r.part), f"{r.seconds:,.1f}", f"{r.share:.1%}", results.SLOT_PARTS.get(r.part, "")]
                for r in slots.itertuples()]  # fmt: skip
        parts.append(_table(["slots", "slot-seconds", "share", "what"], rows, numeric={1, 2}))
    return parts


def _front_table(front: pd.DataFrame, score: plots.Score = plots.VAL_ACC) -> str:
    zoo = plots.zoo_names(front)
    latency = "latency_ms" in front.columns and front["latency_ms"].notna().any()
    own = score.name != "val_acc"
    rows = [
        [
            row["trial_id"] + (f" ({name})" if name else ""),
            *([score.fmt(row[score.name])] if own else []),
            _pct(row["val_acc"]),
            _pct(row["test_acc"]),
            _count(row["params"]),
            _si(row["flops"]),
            *([_ms(row["latency_ms"])] if latency else []),
            _op_mix(row["genotype"]),
        ]
        for (_, row), name in zip(front.iterrows(), zoo, strict=True)
    ]
    head = ["trial", *([score.name] if own else []), "val acc", "test acc", "params", "FLOPs"]
    head += [*(["latency (ms)"] if latency else []), "op mix"]
    return _table(head, rows, numeric=set(range(1, len(head) - 1)))


def _architecture(row: pd.Series, score: plots.Score | None = None) -> str:
    """A front member's architecture as an inline SVG figure (or a note when it cannot be drawn)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = plots.render_architecture(row, Path(tmp) / "architecture.svg", score)
        except ValueError as e:  # a genotype that no longer parses (GenotypeError is a ValueError)
            return f"<figure><figcaption>trial {_e(row['trial_id'])}: cannot draw: {_e(str(e))}</figcaption></figure>"
        svg = plots.inline_svg(path.read_text(encoding="utf-8"))
    return f"<figure>{svg}<figcaption>{_e(plots.trial_title(row, score))}</figcaption></figure>"


def _failures(df: pd.DataFrame) -> list[str]:
    """Trials that did not finish ok, grouped by status and error message."""
    failed = df[(df["status"] != Status.OK).to_numpy(dtype=bool, na_value=False)]
    if failed.empty:
        return []
    errors = failed.assign(error=failed["error"].fillna("")).groupby(["status", "error"], sort=False)["trial_id"]
    groups = sorted(errors, key=lambda item: -len(item[1]))
    rows = [[status, len(ids), _ids(ids), error] for (status, error), ids in groups[:MAX_FAILURE_ROWS]]
    parts = [f"<h3>Trials not ok: {len(failed)}</h3>", _table(["status", "trials", "ids", "error"], rows, numeric={1})]
    if len(groups) > MAX_FAILURE_ROWS:
        parts.append(f'<p class="muted">{len(groups) - MAX_FAILURE_ROWS} more kinds of failure not listed.</p>')
    return parts


# ----------------------------------------------------------------------------- html helpers


def _figure(fig: object, caption: str) -> str:
    return f"<figure>{plots.svg_text(fig)}<figcaption>{_e(caption)}</figcaption></figure>"


def _table(head: list[str], rows: list[list[object]], numeric: Collection[int] = ()) -> str:
    """An HTML table; every cell escaped, numeric columns right-aligned."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(_cell(c, i in numeric) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object, numeric: bool) -> str:
    return f'<td class="num">{_e(value)}</td>' if numeric else f"<td>{_e(value)}</td>"


def _e(value: object) -> str:
    return html.escape("" if value is None or value is pd.NA else str(value))


def _ids(ids: pd.Series, most: int = 8) -> str:
    shown = [str(i) for i in ids.head(most)]
    return ", ".join(shown) + (f", ... ({len(ids) - most} more)" if len(ids) > most else "")


def _pct(value: object) -> str:
    return f"{float(value):.2%}" if _finite(value) else ""


def _count(value: object) -> str:
    return f"{int(value):,}" if _finite(value) else ""


def _ms(value: object) -> str:
    return f"{float(value):.3g}" if _finite(value) else ""


def _si(value: object) -> str:
    return si(float(value)) if _finite(value) else ""


def _finite(value: object) -> bool:
    try:
        return value is not None and value is not pd.NA and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _op_mix(genotype: object) -> str:
    try:
        return op_mix(genotype) if isinstance(genotype, str) else ""
    except (ValueError, KeyError, TypeError):
        return "(unreadable genotype)"


# ----------------------------------------------------------------------------- files


def _default_root(paths_or_root: object, searches: list[plots.Search]) -> Path:
    """The folder named, or the common folder of the searches' folders."""
    if isinstance(paths_or_root, str | os.PathLike):
        path = Path(paths_or_root)
        return path.parent if path.is_file() else path
    folders = [s.path.parent if s.path.is_file() else s.path for s in searches if s.path is not None]
    return folders[0] if len(folders) == 1 else Path(os.path.commonpath([f.resolve() for f in folders]))
