"""Command line: ``launch.py search | show | plot | export | train``.

Every bad argument, config value or data path ends in one line on stderr and
exit code 2; an interrupted search (Ctrl-C, SIGTERM) exits 130/143 and says
how to resume.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.errors import NasgraphError, one_line

EXIT_BAD_INPUT = 2


class UsageError(NasgraphError):
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


def _checked(convert: Callable[[str], Any], kind: str, ok: Callable[[Any], bool], bound: str, suffix: str = ""):
    """An argparse type: `convert` the text (without `suffix`), else 'expected KIND'; then `ok`, else 'expected
    BOUND'. NaN fails every comparison, so it is refused by any bound."""

    def parse(text: str) -> Any:
        try:
            value = convert(text.removesuffix(suffix) if suffix else text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {bound}, got {text!r}")
        return value

    return parse


INF = float("inf")
positive_int = _checked(int, "an integer", lambda v: v >= 1, "an integer >= 1")
nonneg_int = _checked(int, "an integer", lambda v: v >= 0, "an integer >= 0")
positive_float = _checked(float, "a number", lambda v: 0 < v < INF, "a number > 0")
nonneg_float = _checked(float, "a number", lambda v: 0 <= v < INF, "a number >= 0")
milliseconds = _checked(  # 5, 2.5 or 5ms
    float, "milliseconds like 5 or 2.5ms", lambda v: 0 < v < INF, "a positive number of milliseconds", suffix="ms"
)


def proxy_list(text: str) -> tuple[str, ...]:
    from nas.trial.proxies import parse

    try:
        return parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def engine_spec(text: str) -> str:
    if text in ("ray", "local") or (text.startswith("table:") and len(text) > len("table:")):
        return text
    if text.startswith("nb201:"):
        from nas.benchmarks.nb201 import DATASETS

        parts = text.split(":")
        if len(parts) <= 3 and parts[1] in DATASETS and parts[2:] in ([], ["mean"], ["draw"]):
            return text
        raise argparse.ArgumentTypeError(f"expected nb201:{{{','.join(DATASETS)}}}[:mean], got {text!r}")
    raise argparse.ArgumentTypeError(f"expected ray, local, table:PATH or nb201:DATASET, got {text!r}")


# option -> (SearchConfig key, or "train.<key>" / "space.<key>")
SEARCH_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "--controller": (
        "controller",
        {
            "choices": ["evolution", "random", "tpe", "nsga2", "local_search", "predictor", "grid"],  # (tested)
            "help": "search algorithm (default: evolution); local_search: hill climbing with restarts; predictor: "
            "an MLP ensemble ranks mutations of the best (BANANAS); grid: every architecture of a finite space once",
        },
    ),
    "--dataset": (
        "dataset",
        {
            "help": "digits (default), mnist, fashion_mnist, cifar10, cifar100, imagefolder:PATH, "
            "synthetic[:CxHxW:K[:N]]; an image folder is PATH/<class>/<images> (test: a fixed 20%% carved from it) "
            "or PATH/train/<class>/... with PATH/test/<class>/... (or val/); .jpg .png .bmp .tif .webp ... files, as RGB"
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
    "--image-size": (
        "image_size",
        {
            "type": positive_int,
            "help": "resize images to N x N, aspect not kept (image folders: default 32 (nas.trial.data.DEFAULT_IMAGE_SIZE), "
            "Pillow bilinear; built-in datasets: torchvision antialiased bilinear; recorded in preprocessing.json)",
        },
    ),
    "--val-fraction": (
        "val_fraction",
        {"type": float, "help": "share of the training set used for validation (default 0.3 for digits, else 0.1)"},
    ),
    "--trials": ("trials", {"type": positive_int, "help": "architectures to train (default 20)"}),
    "--objectives": (
        "objectives",
        {"type": csv, "help": "val_acc[,params][,flops][,latency] (default val_acc,params; tpe: val_acc)"},
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
    "--max-latency": (
        "max_latency",
        {
            "type": milliseconds,
            "help": "never train architectures slower than this many ms at batch 1 on the trial's device "
            "(measured by the trial before training; e.g. 2.5)",
        },
    ),
    "--report-every": (
        "report_every",
        {
            "type": nonneg_int,
            "help": "rewrite report.html every N finished trials while the search runs (default 5; 0: at the end)",
        },
    ),
    "--concurrency": ("concurrency", {"type": positive_int, "help": "trials running at once (default 2)"}),
    "--cpus-per-trial": ("cpus_per_trial", {"type": float, "help": "CPUs reserved per trial (default 1)"}),
    "--gpus-per-trial": (
        "gpus_per_trial",
        {
            "type": nonneg_float,
            "help": "GPUs per trial; 0.25 packs four trials on a GPU (default: the Ray runtime's GPUs shared "
            "evenly by the concurrent trials; none without GPUs)",
        },
    ),
    "--address": ("address", {"help": "Ray cluster address (from `ray start --head`); default: start Ray locally"}),
    "--storage": ("storage", {"help": "shared storage path/URI for Ray's files on a multi-node cluster"}),
    "--engine": (
        "engine",
        {
            "type": engine_spec,
            "metavar": "{ray,local,table:PATH,nb201:DATASET}",
            "help": "ray (default); local: trials in sequence in this process; table:PATH[:mean]: answers looked up "
            "in a tabular benchmark (python -m nas.benchmarks.table), one training seed drawn per trial or the seeds' mean; "
            "nb201:{cifar10,cifar100,imagenet16}[:mean]: NAS-Bench-201's table (the benchmarks extra)",
        },
    ),
    "--no-dedupe": (
        "dedupe",
        {
            "action": "store_false",
            "default": None,
            "help": "train an architecture again when it is proposed again (default: replay its recorded result)",
        },
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
    "--population": (
        "population",
        {
            "type": positive_int,
            "help": "evolution/nsga2 population size (default 8; evolution --variant tournament: 2 x --sample); "
            "local_search: random starts",
        },
    ),
    "--patience": (
        "patience",
        {"type": positive_int, "help": "local_search: neighbours without improvement before a restart (default 20)"},
    ),
    "--sample": ("sample", {"type": positive_int, "help": "evolution tournament size (default 3)"}),
    "--variant": (
        "variant",
        {"choices": ["aging", "tournament"], "help": "evolution: aging (Real et al.) or tournament (seeds)"},
    ),
    "--mutations": ("mutations", {"type": positive_int, "help": "evolution: d in max(d - t, 1) mutations per child"}),
    "--mutation-kinds": (
        "space.mutation_kinds",
        {
            "type": csv,
            "help": "mutations evolution and local_search draw from (default: all); seeds = op_change,"
            "kernel_change,add_node, the seeds' layer type change, filter size change and layer addition",
        },
    ),
    "--init": (
        "init",
        {
            "type": csv,
            "help": "zoo architectures or genotype .json files to seed the population, e.g. resnet18_cifar,allcnn_c",
        },
    ),
    "--no-latency": (
        "train.latency",
        {"action": "store_false", "default": None, "help": "do not time the trials' inference (no latency columns)"},
    ),
    "--latency-batch": (
        "train.latency_batch",
        {"type": positive_int, "help": "the serving batch each trial times besides batch 1 (default 64)"},
    ),
    "--latency-repeats": (
        "train.latency_repeats",
        {"type": positive_int, "help": "timed runs per batch size; the median is recorded (default 10)"},
    ),
    "--proxies": (
        "train.proxies",
        {
            "type": proxy_list,
            "help": "zero-cost proxies each trial scores at initialisation and records (proxy_NAME columns): "
            "synflow,grad_norm,snip,naswot,jacob_cov,params,flops, or all",
        },
    ),
    "--proxy": (
        "proxy",
        {
            "choices": ["synflow", "grad_norm", "snip", "naswot", "jacob_cov", "params", "flops"],  # PROXIES (tested)
            "help": "the proxy --warmup and --proxy-filter rank by (default synflow)",
        },
    ),
    "--warmup": (
        "warmup",
        {
            "type": positive_int,
            "help": "score N random architectures by the proxy before the search; the first --population random "
            "proposals are the best of them (evolution, random, local_search)",
        },
    ),
    "--proxy-filter": (
        "proxy_filter",
        {"type": positive_int, "help": "each random proposal, and evolution's child, is the proxy's best of N"},
    ),
    "--inherit": (
        "inherit",
        {
            "action": "store_true",
            "default": None,
            "help": "a mutated child starts from its parent's trained weights where names and shapes match "
            "(evolution, local_search), and trains --child-epochs",
        },
    ),
    "--child-epochs": (
        "child_epochs",
        {"type": positive_int, "help": "epochs of a child that inherited weights (default: half of --epochs)"},
    ),
    "--ops": ("space.ops", {"type": csv, "help": "ops the search may use (default: all); see `launch.py ops`"}),
    "--wirings": ("space.wirings", {"type": csv, "help": "chain,residual,dense,ws (default: all)"}),
    "--epochs": ("train.epochs", {"type": positive_int, "help": "epochs per trial (default 6)"}),
    "--batch-size": (
        "train.batch_size",
        {"type": positive_int, "help": "batch size (default: auto, ~20 steps per epoch, 32..512)"},
    ),
    "--lr": ("train.lr", {"type": float, "help": "peak learning rate (default 0.2)"}),
    "--device": ("train.device", {"help": "auto (default), cpu, cuda, cuda:N"}),
    "--compile": (
        "train.compile",
        {"action": "store_true", "default": None, "help": "torch.compile each trial's model"},
    ),
    "--train-fn": (
        "train_fn",
        {
            "metavar": "FILE.py:NAME",
            "help": "train each trial with your function NAME(model, data, config, report) -> {metric: number} "
            "from FILE.py instead of the built-in trainer (README: From Python); objectives may name its "
            "metrics (--objectives my_metric:max,params). Code, run as you: only name files you trust",
        },
    ),
    "--plugin": (
        "plugins",
        {
            "action": "append",
            "metavar": "FILE.py",
            "help": "your Python file, run first: its register_op / zoo.register / register_dataset calls "
            "(repeatable; saved, so --resume runs it again). It is code, run as you: only name files you trust",
        },
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
    t = sub.add_parser(
        "train",
        help="train one architecture (longer): GENOTYPE.json, zoo:NAME or RESULTS_DIR:TRIAL",
        description="Train one architecture with the full budget; writes a results folder like a search.",
    )
    t.add_argument("architecture", help="a genotype JSON file, zoo:NAME, or RESULTS_DIR:TRIAL (TRIAL may be 'best')")
    t.add_argument("--name", help="results folder name (default train-<architecture>)")
    t.add_argument("--results-dir", default="results")
    for flag in ("--dataset", "--data-dir", "--download", "--limit", "--image-size", "--seed", "--engine", "--address"):
        t.add_argument(flag, **SEARCH_OPTIONS[flag][1])
    for flag in (
        "--epochs",
        "--batch-size",
        "--lr",
        "--device",
        "--compile",
        "--gpus-per-trial",
        "--cpus-per-trial",
        "--plugin",
    ):
        t.add_argument(flag, **SEARCH_OPTIONS[flag][1])
    ex = sub.add_parser(
        "export",
        help="export a trial as standalone PyTorch code + weights",
        description="Write model.py (torch only), weights.safetensors, genotype.json and README.md.",
    )
    ex.add_argument("results", help="results folder")
    ex.add_argument("--trial", default="best", help="best (default), a trial id, or pareto (every front member)")
    ex.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    ex.add_argument("--format", type=csv, default=(), help="also write torchscript, export (torch.export) or onnx")
    ex.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    plot = sub.add_parser("plot", help="write PNG/SVG figures and the HTML report of results folder(s)")
    plot.add_argument("results", nargs="+", help="results folder(s)")
    plot.add_argument("--trial", default="best", help="trial whose architecture to draw (default best)")
    plot.add_argument("--out", help="output folder (default <results>/figures)")
    show = sub.add_parser("show", help="summarise a results folder")
    show.add_argument("results", nargs="+", help="results folder(s)")
    show.add_argument("--top", type=positive_int, default=10, help="rows of the front to show")
    show.add_argument(
        "--watch",
        nargs="?",
        const=5.0,
        type=positive_float,
        metavar="SECONDS",
        help="while the search runs, print the summary again each time a trial is recorded (checked every "
        "SECONDS, default 5); ends when the search does",
    )
    sub.add_parser("ops", help="list the registered ops and zoo architectures")
    return parser


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """What the user asked for: the --config file's options, then explicit flags over them (no defaults)."""
    from nas.config import load_config_file

    data: dict[str, Any] = load_config_file(args.config) if args.config else {}
    data.setdefault("train", {})
    data.setdefault("space", {})
    for flag, (key, _) in SEARCH_OPTIONS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        if "." in key:
            section, sub = key.split(".", 1)
            if isinstance(data[section], dict):  # otherwise SearchConfig says what is wrong with it
                data[section] = dict(data[section]) | {sub: list(value) if isinstance(value, tuple) else value}
        else:
            data[key] = list(value) if isinstance(value, tuple) else value
    return data


def search_config(args: argparse.Namespace):
    """Defaults < --config file < explicit flags."""
    from nas.config import SearchConfig

    data = given_options(args)
    if args.name:
        data["name"] = args.name
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
        candidate = SearchConfig.from_dict(base | {key: (base[key] | value) if key in ("train", "space") else value})
        if key == "train":
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
        f"resume: {_flag(k)} {getattr(saved, k)!r} -> {v!r} (saved in {root / Layout.CONFIG})"
        for k, v in changes.items()
    ]
    return dataclasses.replace(saved, **changes), notes


def _flag(key: str) -> str:
    """The command-line flag of a config key, or the key as a config-file option."""
    for flag, (option, _) in SEARCH_OPTIONS.items():
        if option == key:
            return flag
    return f"option {key!r}"


def _refuse_on_resume(root: Path, key: str, saved: Any, given: Any) -> None:
    raise UsageError(
        f"--resume {root}: {_flag(key)} cannot change on resume (saved {saved!r}, given {given!r}): the recorded "
        f"trials were made with the saved value; leave it out to continue, or start a new search with --name"
    )


# ------------------------------------------------------------------ commands


def cmd_search(args: argparse.Namespace) -> int:
    """`launch.py search`: a thin caller of `nas.api.drive`, which the Python API shares."""
    from nas import api
    from nas.plugins import load_all, resolvable, train_fn_from
    from nas.trial.owndata import from_config

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


def load_architecture(spec: str):
    """A genotype from a JSON file, ``zoo:NAME`` or ``RESULTS_DIR:TRIAL`` ('best' = most accurate ok trial)."""
    import searchspace as ss
    from searchspace.genotype import Genotype

    if spec.startswith("zoo:"):
        try:
            return ss.zoo.get(spec[4:]), spec[4:]
        except KeyError as e:
            raise UsageError(str(e).strip("'\"")) from None
    path = Path(spec)
    if path.is_file():
        try:
            return Genotype.from_json(path.read_bytes()), path.stem
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror}") from None
    folder, _, trial = spec.rpartition(":")
    if folder and Path(folder).is_dir():
        row = find_trial(folder, trial or "best")
        return Genotype.from_json(row["genotype"]), f"{Path(folder).name}-{row['trial_id']}"
    raise UsageError(f"{spec!r} is not a genotype JSON file, zoo:NAME, or RESULTS_DIR:TRIAL")


def find_trial(folder: str | Path, trial: str):
    """The record row of a trial id, or for 'best' of the ok trial best by the search's score (val_acc, or the
    first metric of its own that its objectives name: `nas.report.plots.Score`) (`nas.record.results.find_trial`)."""
    from nas.record import results
    from nas.report import plots

    try:
        df = results.load(folder)
    except FileNotFoundError:
        raise UsageError(f"{folder}: no results there (no trials.jsonl)") from None
    score = plots.Score.of(plots.read_config(Path(folder)))  # (the record is read once, above)
    try:
        return results.find_trial(df, trial, metric=score.name, mode=score.sense)
    except ValueError as e:
        raise UsageError(f"{folder}: {e}") from None


def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from nas.api import preflight
    from nas.config import make_space
    from nas.controllers.fixed import Fixed
    from nas.driver.coordinator import DataInfo, SearchState
    from nas.driver.progress import stderr_log
    from nas.engines import make_engine
    from nas.plugins import load_all
    from nas.trial.owndata import from_config

    load_all(args.plugin or ())  # (before the architecture: it may use their ops)
    genotype, label = load_architecture(args.architecture)
    data: dict[str, Any] = {"controller": "train", "trials": 1, "keep_weights": "all", "concurrency": 1}
    data["name"] = args.name or f"train-{label}"
    base = search_config(argparse.Namespace(**{**_empty_search_args(), **vars(args), "config": None, "resume": None}))
    cfg = dataclasses.replace(base, **{k: v for k, v in data.items() if k != "name"}, name=data["name"])
    from searchspace import nb201

    if nb201.is_member(genotype):  # a NAS-Bench-201 network (from an nb201: search): its own space's
        cfg = dataclasses.replace(cfg, space={"template": "nb201"})
    if cfg.dataset.startswith("nb201:"):
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


def _empty_search_args() -> dict[str, Any]:
    return {flag.lstrip("-").replace("-", "_"): None for flag in SEARCH_OPTIONS} | {"name": None}


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


COMMANDS = {
    "search": cmd_search,
    "train": cmd_train,
    "show": cmd_show,
    "plot": cmd_plot,
    "export": cmd_export,
    "ops": cmd_ops,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of launch.py and the `nasgraph` command."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except NasgraphError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
