"""``launch.py export``: a trial (best, an id, or every member of the front) as standalone code and weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.cli.args import UsageError
from nas.cli.pick import find_trial


def _saved_config(layout):
    """A results folder's SearchConfig, or None where it has no readable config.json."""
    from nas.driver.resume import read_saved_config
    from nas.errors import SearchError

    try:
        return read_saved_config(layout.root)
    except SearchError:
        return None


def cmd_export(args: argparse.Namespace) -> int:
    from nas.api import export_trial
    from nas.record import results
    from nas.record.folder import Layout

    layout = Layout(args.results)
    folder = layout.root
    layout.read_data_info()  # (a folder that is no search says so first)
    saved = _saved_config(layout)
    if saved is not None:
        from nas.plugins import load_all

        load_all(saved.plugins)  # the search's plugin ops, which its genotypes may use
    if args.trial == "pareto":
        front = saved.front_senses() if saved is not None else None
        rows = [row for _, row in results.pareto_front(results.load(folder), front).iterrows()]
        outs = [Path(args.out) / row["trial_id"] for row in rows]
        if not rows:
            raise UsageError(f"{folder}: no trial trained successfully, so there is no Pareto front to export")
    else:
        rows, outs = [find_trial(folder, args.trial)], [Path(args.out)]
    for row, out in zip(rows, outs, strict=True):
        print(export_trial(layout, row, out, formats=args.format, overwrite=args.overwrite))
    return 0
