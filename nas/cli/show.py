"""``launch.py show``, ``plot`` and ``ops``: results folders summarised, followed, drawn; the registry listed."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.cli.args import UsageError


def cmd_show(args: argparse.Namespace) -> int:
    from nas.report import text as report

    paths = args.results if len(args.results) > 1 else args.results[0]
    if args.watch is not None:
        if len(args.results) > 1:
            raise UsageError("--watch follows one results folder; name one")
        return _watch(Path(paths), args.top, args.watch)
    try:
        print(report.summary(paths, top=args.top))
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    if len(args.results) == 1:
        from nas.record.folder import held

        if held(paths):
            print(f"running: {report.progress_line(paths)} (follow it: launch.py show {paths} --watch)")
    return 0


def _watch(root: Path, top: int, every: float) -> int:
    """`show --watch`: the summary, again whenever the record grows, until the search holding the folder ends."""
    import time

    from nas.record.folder import Layout, held
    from nas.report import text as report

    record = Layout(root).record
    if not record.is_file() and not held(root):
        raise UsageError(f"{root} is not a results folder (no {record.name}) and no search is running there")
    size = -1
    while True:
        alive = held(root)  # before reading: a search that ends now has its last rows on disk already
        now = record.stat().st_size if record.is_file() else 0
        if now != size:
            size = now
            stamp = time.strftime("%H:%M:%S")
            print(f"--- {stamp} {'running' if alive else 'not running'}: {root}", flush=True)
            print(report.progress_line(root), flush=True)
            print(report.summary(root, top=top), flush=True)
        if not alive:
            print(f"--- the search in {root} is not running (ended, stopped, or never started here)", flush=True)
            return 0
        time.sleep(every)


def cmd_plot(args: argparse.Namespace) -> int:
    from nas.report import html as html_report
    from nas.report import plots

    paths = args.results if len(args.results) > 1 else args.results[0]
    out = Path(args.out) if args.out else Path(args.results[0]) / "figures"
    try:
        written = plots.plot_results(paths, out, trial=args.trial)
        written.append(html_report.write_report(paths, out / "report.html" if len(args.results) > 1 else None))
    except ValueError as e:
        raise UsageError(str(e)) from None
    for path in written:
        print(path)
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    import searchspace as ss

    for name in ss.ops.names():
        spec = ss.ops.get(name)
        params = ", ".join(f"{k}={p.default}" for k, p in spec.params.items())
        print(f"{name:18s} [{spec.category}] {spec.doc}" + (f"  ({params})" if params else ""))
    print("\nzoo:", ", ".join(ss.zoo.names()))
    return 0
