"""``launch.py train``: one architecture trained with the full budget, into a results folder like a search."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nas.cli.args import UsageError
from nas.cli.options import empty_search_args
from nas.cli.pick import load_architecture
from nas.cli.search import search_config


def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from nas.api import preflight
    from nas.config import make_space
    from nas.controllers.fixed import Fixed
    from nas.data import from_config
    from nas.driver.coordinator import DataInfo, SearchState
    from nas.driver.progress import stderr_log
    from nas.engines import make_engine
    from nas.plugins import load_all

    load_all(args.plugin or ())  # (before the architecture: it may use their ops)
    genotype, label = load_architecture(args.architecture)
    data: dict[str, Any] = {"controller": "train", "trials": 1, "keep_weights": "all", "concurrency": 1}
    data["name"] = args.name or f"train-{label}"
    base = search_config(argparse.Namespace(**{**empty_search_args(), **vars(args), "config": None, "resume": None}))
    cfg = dataclasses.replace(base, **{k: v for k, v in data.items() if k != "name"}, name=data["name"])
    from nas.registry import BENCHMARKS
    from searchspace import nb201

    if nb201.is_member(genotype):  # a NAS-Bench-201 network (from an nb201: search): its own space's
        cfg = dataclasses.replace(cfg, space={"template": "nb201"})
    if cfg.dataset.partition(":")[0] in BENCHMARKS:
        raise UsageError(f"{cfg.dataset} is a table without images; train on real data, e.g. --dataset cifar100")
    load_all(cfg.plugins)
    preflight(cfg)
    splits = from_config(cfg)
    info = DataInfo.of(splits)
    make_space(cfg, info).validate(genotype)
    root = Path(args.results_dir) / cfg.name
    controller = Fixed(make_space(cfg, info), [genotype], origin=args.architecture)
    with SearchState(cfg, root, info, controller=controller) as state:
        engine = make_engine(cfg, splits)
        engine.start(state)
        engine.run(state)
    from nas import api
    from nas.report import text as report

    api.write_report(root, stderr_log)
    print(report.summary(root))
    return 0
