"""Command line: ``launch.py search | show | plot | export | train``.

Every bad argument, config value or data path ends in one line on stderr and
exit code 2; an interrupted search (Ctrl-C, SIGTERM) exits 130/143 and says
how to resume.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


# ------------------------------------------------------------------ argument parsing


def count(text: str) -> int:
    """An integer with an optional k/M/G suffix: 250k, 1.5M."""
    scale = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}
    try:
        value = float(text[:-1]) * scale[text[-1]] if text and text[-1] in scale else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count like 250000, 250k or 1.5M, got {text!r}") from None
    if value <= 0 or value != value or value > 1e15:
        raise argparse.ArgumentTypeError(f"expected a positive count, got {text!r}")
    return int(value)


def csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


# option -> (SearchConfig key, or "train.<key>" / "space.<key>")
SEARCH_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "--controller": (
        "controller",
        {"choices": ["evolution", "random", "tpe", "nsga2"], "help": "search algorithm (default: evolution)"},
    ),
    "--dataset": (
        "dataset",
        {
            "help": "digits (default), mnist, fashion_mnist, cifar10, cifar100, imagefolder:PATH, synthetic[:CxHxW:K[:N]]"
        },
    ),
    "--data-dir": (
        "data_dir",
        {"help": "where torchvision datasets are (default ~/.cache/nasgraph/data or $NASGRAPH_DATA)"},
    ),
    "--download": (
        "download",
        {"action": "store_true", "default": None, "help": "let torchvision download the dataset"},
    ),
    "--limit": ("limit", {"type": positive_int, "help": "use at most N training images"}),
    "--image-size": ("image_size", {"type": positive_int, "help": "resize images to N x N (imagefolder)"}),
    "--val-fraction": (
        "val_fraction",
        {"type": float, "help": "share of the training set used for validation (default 0.1)"},
    ),
    "--trials": ("trials", {"type": positive_int, "help": "architectures to train (default 24)"}),
    "--objectives": (
        "objectives",
        {"type": csv, "help": "val_acc[,params][,flops] (default val_acc; nsga2: val_acc,params)"},
    ),
    "--seed": ("seed", {"type": int, "help": "random seed (default 0)"}),
    "--max-params": (
        "max_params",
        {"type": count, "help": "never train architectures with more parameters (e.g. 250k)"},
    ),
    "--max-flops": (
        "max_flops",
        {"type": count, "help": "never train architectures with more FLOPs per image (e.g. 50M)"},
    ),
    "--concurrency": ("concurrency", {"type": positive_int, "help": "trials running at once (default 2)"}),
    "--cpus-per-trial": ("cpus_per_trial", {"type": float, "help": "CPUs reserved per trial (default 1)"}),
    "--gpus-per-trial": (
        "gpus_per_trial",
        {"type": nonneg_float, "help": "GPUs per trial; 0.25 packs four trials on a GPU"},
    ),
    "--address": ("address", {"help": "Ray cluster address (from `ray start --head`); default: start Ray locally"}),
    "--storage": ("storage", {"help": "shared storage path/URI for Ray's files on a multi-node cluster"}),
    "--engine": (
        "engine",
        {"choices": ["ray", "local"], "help": "ray (default) or local: trials in sequence in this process"},
    ),
    "--asha": ("asha", {"action": "store_true", "default": None, "help": "stop poor trials early (ASHA)"}),
    "--grace-epochs": ("grace_epochs", {"type": positive_int, "help": "ASHA: epochs every trial gets (default 2)"}),
    "--trial-timeout": (
        "trial_timeout",
        {"type": nonneg_float, "help": "seconds of training per trial before it stops with status timeout"},
    ),
    "--keep-weights": (
        "keep_weights",
        {"choices": ["front", "all", "none"], "help": "which trials' weights to keep (default front)"},
    ),
    "--population": ("population", {"type": positive_int, "help": "evolution/nsga2 population size (default 16)"}),
    "--sample": ("sample", {"type": positive_int, "help": "evolution tournament size (default 4)"}),
    "--variant": (
        "variant",
        {"choices": ["aging", "tournament"], "help": "evolution: aging (Real et al.) or tournament (seeds)"},
    ),
    "--mutations": ("mutations", {"type": positive_int, "help": "evolution: d in max(d - t, 1) mutations per child"}),
    "--init": ("init", {"type": csv, "help": "zoo architectures to seed the population, e.g. resnet18_cifar,allcnn_c"}),
    "--ops": ("space.ops", {"type": csv, "help": "ops the search may use (default: all); see `launch.py ops`"}),
    "--wirings": ("space.wirings", {"type": csv, "help": "chain,residual,dense,ws (default: all)"}),
    "--epochs": ("train.epochs", {"type": positive_int, "help": "epochs per trial (default 8)"}),
    "--batch-size": (
        "train.batch_size",
        {"type": positive_int, "help": "batch size (default: auto, ~40 steps per epoch, 32..512)"},
    ),
    "--lr": ("train.lr", {"type": float, "help": "peak learning rate (default 0.2)"}),
    "--device": ("train.device", {"help": "auto (default), cpu, cuda, cuda:N"}),
    "--compile": (
        "train.compile",
        {"action": "store_true", "default": None, "help": "torch.compile each trial's model"},
    ),
}


def build_parser() -> Parser:
    parser = Parser(prog="launch.py", description="nasgraph: neural architecture search over classic CNN blocks.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, required=True)
    s = sub.add_parser(
        "search", help="run (or resume) an architecture search", description="Run an architecture search."
    )
    s.add_argument("--config", help="YAML or JSON file with the same options (command-line flags win)")
    s.add_argument("--name", help="results folder name (default <dataset>-<controller>)")
    s.add_argument("--results-dir", default="results", help="parent folder of results (default ./results)")
    s.add_argument("--resume", metavar="DIR", help="continue the search in this results folder")
    for flag, (_, kw) in SEARCH_OPTIONS.items():
        s.add_argument(flag, **kw)
    show = sub.add_parser("show", help="summarise a results folder")
    show.add_argument("results", nargs="+", help="results folder(s)")
    show.add_argument("--top", type=positive_int, default=10, help="rows of the front to show")
    sub.add_parser("ops", help="list the registered ops and zoo architectures")
    return parser


def search_config(args: argparse.Namespace):
    """Defaults < --config file < explicit flags."""
    from nas.config import SearchConfig, load_config_file

    data: dict[str, Any] = load_config_file(args.config) if args.config else {}
    data.setdefault("train", {})
    data.setdefault("space", {})
    for flag, (key, _) in SEARCH_OPTIONS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        if "." in key:
            section, sub = key.split(".", 1)
            data[section] = dict(data[section]) | {sub: list(value) if isinstance(value, tuple) else value}
        else:
            data[key] = list(value) if isinstance(value, tuple) else value
    if args.name:
        data["name"] = args.name
    if args.resume:
        data["name"] = Path(args.resume).name
    return SearchConfig.from_dict(data)


# ------------------------------------------------------------------ commands


def cmd_search(args: argparse.Namespace) -> int:
    from nas.data import load_dataset
    from nas.search import DataInfo, SearchState, run_local

    cfg = search_config(args)
    root = Path(args.resume) if args.resume else Path(args.results_dir) / cfg.name
    if args.resume:  # the saved config decides the dataset; load it before the data
        import json

        from nas.config import SearchConfig

        try:
            saved = SearchConfig.from_dict(json.loads((root / "config.json").read_text()))
        except FileNotFoundError:
            raise UsageError(f"--resume {root}: no search there (no config.json)") from None
        data_cfg = saved
    else:
        data_cfg = cfg
    data = load_dataset(
        data_cfg.dataset,
        data_cfg.data_dir,
        download=data_cfg.download,
        val_fraction=data_cfg.val_fraction,
        seed=data_cfg.seed,
        image_size=data_cfg.image_size,
        limit=data_cfg.limit,
    )
    print(f"nasgraph: {data}", file=sys.stderr)
    with SearchState(cfg, root, DataInfo.of(data), resume=bool(args.resume)) as state:
        print(
            f"searching with {state.cfg.controller} for {state.cfg.trials} trials ({state.dispatched} done) -> {root}",
            file=sys.stderr,
        )
        previous = signal.signal(signal.SIGTERM, _sigterm(state))
        try:
            if state.cfg.engine == "local":
                run_local(state, data)
            else:
                from nas.dispatch import run_ray

                run_ray(state, data)
        except KeyboardInterrupt:
            state.stopping = True
        finally:
            signal.signal(signal.SIGTERM, previous)
        if not state.done:
            print(f"stopped after {state.dispatched}/{state.cfg.trials} trials; continue with:", file=sys.stderr)
            print(f"  python launch.py search --resume {root}", file=sys.stderr)
            return 143 if getattr(state, "terminated", False) else 130
    from nas import report

    print(report.summary(root))
    return 0


def _sigterm(state):
    def handler(signum, frame):
        state.stopping = True
        state.terminated = True
        raise KeyboardInterrupt  # unwinds like Ctrl-C: finished trials are on disk, unfinished ones dropped

    return handler


def cmd_show(args: argparse.Namespace) -> int:
    from nas import report

    print(report.summary(args.results if len(args.results) > 1 else args.results[0], top=args.top))
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    import searchspace as ss

    for name in ss.ops.names():
        spec = ss.ops.get(name)
        params = ", ".join(f"{k}={p.default}" for k, p in spec.params.items())
        print(f"{name:18s} [{spec.category}] {spec.doc}" + (f"  ({params})" if params else ""))
    print("\nzoo:", ", ".join(ss.zoo.names()))
    return 0


COMMANDS = {"search": cmd_search, "show": cmd_show, "ops": cmd_ops}


def main(argv: list[str] | None = None) -> int:
    """Entry point of launch.py and the `nasgraph` command."""
    from nas.config import ConfigError
    from nas.data import DataError
    from nas.search import SearchError
    from searchspace.genotype import GenotypeError

    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, DataError, SearchError, GenotypeError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:500]
