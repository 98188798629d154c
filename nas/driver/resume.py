"""Starting or continuing a search's controller and config from its results folder.

On resume the record is the truth: the saved controller state is loaded, proposals that never
finished are dropped, and any recorded trial the state has not seen is replayed into the
controller, so no completed trial is lost, re-run, or counted twice. A saved state that has seen
trials the record lacks (a record cut short by hand or by a lost write) is rebuilt from the record.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from nas.config import SearchConfig
from nas.controllers import Controller, Setting
from nas.driver.progress import Log
from nas.errors import SearchError
from nas.record.folder import DataInfo, ResultsFolder
from searchspace.genotype import Genotype, GenotypeError
from searchspace.space import SearchSpace

# Options a resume may change (given explicitly; otherwise the saved value stands): where and how fast the
# remaining trials run, and how many there are. Everything else shapes the trials themselves and is fixed.
RESUME_OVERRIDES = (
    "trials",
    "concurrency",
    "cpus_per_trial",
    "gpus_per_trial",
    "address",
    "storage",
    "engine",
    "engine_options",  # (with it: the engine's own options, e.g. a plugin engine's)
    "trial_timeout",
    "data_dir",
    "download",
)


def read_saved_config(root: str | Path, flag: str = "--resume") -> SearchConfig:
    """A results folder's saved config; SearchError naming `flag` and the folder if it has none or it is unreadable."""
    from nas.errors import one_line
    from nas.record.folder import Layout

    try:
        return SearchConfig.from_saved(json.loads(Layout(root).config.read_text()))
    except FileNotFoundError:
        raise SearchError(f"{flag} {root}: no search there (no config.json)") from None
    except (OSError, ValueError) as e:  # a file for a folder, or a config.json that is not JSON or not a config
        raise SearchError(f"{flag} {root}: cannot read its config.json ({one_line(e)})") from None


def settle_config(folder: ResultsFolder, cfg: SearchConfig, resume: bool) -> SearchConfig:
    """New search: save the config. Resume: the saved config, with only the run-time options taken from cfg."""
    if not resume:
        folder.write_config(cfg.to_dict())
        return cfg
    try:
        saved = SearchConfig.from_saved(json.loads(folder.config.read_text()))
    except (ValueError, OSError) as e:
        raise SearchError(f"{folder.config} is unreadable: {e}") from None
    merged = dataclasses.replace(saved, **{k: getattr(cfg, k) for k in RESUME_OVERRIDES})
    if merged != saved:
        folder.write_config(merged.to_dict())
    return merged


def restore_controller(
    cfg: SearchConfig, space: SearchSpace, info: DataInfo, folder: ResultsFolder, rows: list[dict[str, Any]], log: Log
) -> Controller:
    """The search's controller, its saved state loaded and the record replayed into it (module docstring)."""
    if cfg.controller == "train":
        raise SearchError(f"{folder.root} is a `launch.py train` run; it cannot be resumed, run it again")
    ctrl = new_controller(cfg, space, info, folder)
    if folder.state.exists():
        try:
            ctrl.load_state_dict(json.loads(folder.state.read_text()))
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
            raise SearchError(
                f"{folder.state} is unreadable ({e!r:.200}); remove it to rebuild the state from the record"
            ) from None
        told = ctrl.told
        if told > len(rows) or (told and rows[told - 1].get("trial_id") != ctrl.last_told):
            # the record lost rows the state saw (cut short): the record is the truth
            log(f"{folder.state} has seen trials the record lacks (its row {told} is {ctrl.last_told}); rebuilding it")
            asked, ctrl = ctrl.asked, new_controller(cfg, space, info, folder)
            ctrl.asked = asked  # ids are never reused
    dropped = ctrl.drop_pending()
    replayed = 0
    for row in rows[ctrl.told :]:  # what the state has not seen: the rows after its first `told`
        ctrl.tell(row["trial_id"], row["status"], row, Genotype.from_dict(row["genotype"]))
        replayed += 1
    ids = [int(r["trial_id"]) for r in rows if str(r.get("trial_id", "")).isdigit()]
    ctrl.asked = max([ctrl.asked, *ids])
    if rows:
        log(
            f"resuming {folder.root}: {len(rows)} recorded trials"
            + (f", {replayed} replayed into the controller" if replayed else "")
            + (f", {len(dropped)} unfinished proposals dropped" if dropped else "")
        )
    return ctrl


def new_controller(
    cfg: SearchConfig, space: SearchSpace, info: DataInfo, folder: ResultsFolder | None = None
) -> Controller:
    """A fresh controller of the config's kind, made by its `Controller.create` from its options (without a
    folder, a controller's own store, Optuna's study, is in memory)."""
    setting = Setting(
        space,
        cfg.seed,
        cfg.objective_senses(),
        cfg.warmup,
        cfg.proxy_filter,
        folder.journal if folder is not None else None,
        cfg.name,
        lambda name: init_genotype(name, space, info),
    )
    return cfg.controller_class().create(cfg.controller_options, setting)


def init_genotype(name: str, space: SearchSpace, info: DataInfo) -> Genotype:
    """A zoo architecture by name, or a genotype JSON file (``path/to/genotype.json``), checked against the space."""
    import searchspace as ss

    if name.endswith(".json"):
        try:
            g = Genotype.from_json(Path(name).read_bytes())
        except OSError as e:
            raise SearchError(f"--init {name}: cannot read it ({e.strerror})") from None
        except GenotypeError as e:
            raise SearchError(f"--init {name}: not a genotype ({e})") from None
    else:
        try:
            g = ss.zoo.get(name)
        except KeyError as e:
            raise SearchError(str(e).strip("'\"") + " (or give a genotype .json file)") from None
    try:
        return space.validate(g)
    except GenotypeError as e:
        raise SearchError(f"--init {name} does not fit this search ({info.name} input): {e}") from None
