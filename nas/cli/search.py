"""``launch.py search``: a new search's config (defaults < --config file < flags), or a resumed one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nas.cli.args import UsageError
from nas.cli.options import flag_of, given_options


def search_config(args: argparse.Namespace):
    """Defaults < --config file < explicit flags."""
    from nas.config import SearchConfig

    data = given_options(args)  # --name included: an engine that names its folder (a table's) keeps the user's
    if isinstance(data.get("plugins"), list):  # saved absolute: a resume from another folder still finds them
        data["plugins"] = [str(Path(p).expanduser().resolve()) for p in data["plugins"]]
    if isinstance(data.get("train_fn"), str) and data["train_fn"]:
        from nas.plugins import train_fn_spec

        data["train_fn"] = train_fn_spec(data["train_fn"])
    return SearchConfig.from_dict(data)


def resumed_config(saved, given: dict[str, Any], root: Path):
    """The saved config, with the run-time options the user gave explicitly (`nas.driver.resume.RESUME_OVERRIDES`),
    and a line for each change.

    An option that would change the trials themselves (epochs, dataset, controller, space, constraints...)
    is refused in one line when it differs from the saved value: the recorded trials were made with the
    saved one, and a search that mixes both has no meaning. Each change is printed and saved in config.json.
    """
    import dataclasses

    from nas.config import SearchConfig
    from nas.driver.resume import RESUME_OVERRIDES
    from nas.record.folder import Layout

    base = saved.to_dict()
    changes: dict[str, Any] = {}
    for key, value in given.items():
        if key == "name":
            continue
        if key in ("controller", "engine"):  # options given alone go over the saved ones, under the saved name
            given_entry, saved_entry = _entry_dict(value), _entry_dict(base[key])
            same = given_entry.get("name", saved_entry["name"]) == saved_entry["name"]
            value = saved_entry | given_entry if same else given_entry
        candidate = SearchConfig.from_dict(base | {key: (base[key] | value) if key in ("train", "space") else value})
        if key in ("controller", "engine"):
            _refuse_entry_changes(root, key, saved, candidate, changes)
        elif key == "train":
            differ = [
                f.name
                for f in dataclasses.fields(saved.train)
                if getattr(candidate.train, f.name) != getattr(saved.train, f.name)
            ]
            for sub in differ:
                _refuse_on_resume(root, f"train.{sub}", getattr(saved.train, sub), getattr(candidate.train, sub))
        elif key == "space":
            for sub in sorted(set(candidate.space) | set(saved.space)):
                if candidate.space.get(sub) != saved.space.get(sub):
                    _refuse_on_resume(root, f"space.{sub}", saved.space.get(sub), candidate.space.get(sub))
        elif getattr(candidate, key) != getattr(saved, key):
            if key not in RESUME_OVERRIDES:
                _refuse_on_resume(root, key, getattr(saved, key), getattr(candidate, key))
            changes[key] = getattr(candidate, key)
    notes = [
        f"resume: {flag_of(k) if not k.endswith('_options') else k.replace('_', ' ')} {getattr(saved, k)!r} -> "
        f"{v!r} (saved in {root / Layout.CONFIG})"
        for k, v in changes.items()
    ]
    return dataclasses.replace(saved, **changes), notes


def _entry_dict(value: Any) -> dict[str, Any]:
    """A config's ``controller`` / ``engine``: a name, or ``{name: ..., OPTION: ...}``, as the mapping."""
    return dict(value) if isinstance(value, dict) else {"name": value}


def _refuse_entry_changes(root: Path, key: str, saved: Any, candidate: Any, changes: dict[str, Any]) -> None:
    """The controller and its options never change on resume; the engine may (`RESUME_OVERRIDES`), with its own."""
    import dataclasses

    from nas.driver.resume import RESUME_OVERRIDES

    options = f"{key}_options"
    if getattr(candidate, key) != getattr(saved, key):
        if key not in RESUME_OVERRIDES:
            _refuse_on_resume(root, key, getattr(saved, key), getattr(candidate, key))
        changes[key], changes[options] = getattr(candidate, key), getattr(candidate, options)
        return
    for f in dataclasses.fields(getattr(saved, options)):
        was, now = getattr(getattr(saved, options), f.name), getattr(getattr(candidate, options), f.name)
        if was != now:
            if key not in RESUME_OVERRIDES:
                _refuse_on_resume(root, f"{key}.{f.name}", was, now)
            changes[options] = getattr(candidate, options)


def _refuse_on_resume(root: Path, key: str, saved: Any, given: Any) -> None:
    raise UsageError(
        f"--resume {root}: {flag_of(key)} cannot change on resume (saved {saved!r}, given {given!r}): the recorded "
        f"trials were made with the saved value; leave it out to continue, or start a new search with --name"
    )


# ------------------------------------------------------------------ commands


def cmd_search(args: argparse.Namespace) -> int:
    """`launch.py search`: a thin caller of `nas.api.drive`, which the Python API shares."""
    from nas import api
    from nas.data import from_config
    from nas.plugins import load_all, resolvable, train_fn_from

    if args.resume:  # the saved config, with only the run-time options given explicitly
        from nas.driver.resume import read_saved_config

        root = Path(args.resume)
        saved = read_saved_config(root)
        if saved.train_fn and not resolvable(saved.train_fn):
            raise UsageError(
                f"--resume {root}: this search trains with its own train_fn ({saved.train_fn}), given from Python; "
                f"resume it there: nas.Search.resume({str(root)!r}, train_fn=...).run()"
            )
        cfg, notes = resumed_config(saved, given_options(args), root)
    else:
        from nas.engines.table import settle

        cfg, notes = settle(search_config(args), given_options(args)), []
        root = Path(args.results_dir) / cfg.name
    load_all(cfg.plugins)
    train_fn = train_fn_from(cfg.train_fn) if cfg.train_fn else None
    api.check_train_fn(train_fn)
    api.preflight(cfg)
    data = from_config(cfg)
    api.check_data(data, train_fn)
    api.check_user_ops(cfg, data)
    outcome = api.drive(cfg, root, data, resume=bool(args.resume), train_fn=train_fn, notes=tuple(notes))
    for note in outcome.notes:
        print(f"{note} in {root}; `python launch.py search --resume {root}` finishes writing them", file=sys.stderr)
    if not outcome.recorded:  # stopped before a single trial was recorded: the folder went with it
        print("stopped before any trial was recorded; nothing was written", file=sys.stderr)
        return outcome.exit_code
    if outcome.finished and not outcome.notes:
        from nas.report import text as report

        print(report.summary(root))
        return 0
    if not outcome.finished:
        print(f"stopped after {outcome.dispatched}/{outcome.trials} trials; continue with:", file=sys.stderr)
        print(f"  python launch.py search --resume {root}", file=sys.stderr)
    return outcome.exit_code
