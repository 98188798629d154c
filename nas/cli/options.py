"""``launch.py``'s flags: the search options (each a SearchConfig key), the parser, what was given."""

from __future__ import annotations

import argparse
import types
from typing import Any

from nas.cli.args import (
    Parser,
    count,
    csv,
    engine_spec,
    milliseconds,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
    proxy_list,
)

# option -> (SearchConfig key, or "train.<key>" / "space.<key>"); with those the registries add
# (`search_options`): --controller and each controller's options ("controller.<key>")
FIXED_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "--dataset": (
        "dataset",
        {
            "help": "{datasets}; an image folder is PATH/<class>/<images> (test: a fixed 20%% carved from it) "
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
            "help": "resize images to N x N, aspect not kept (image folders: default 32, Pillow bilinear; built-in "
            "datasets: torchvision antialiased bilinear; recorded in preprocessing.json). The default space "
            "scales its stem with N. Larger sets: launch.py prepare, then --dataset shards:DIR",
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
    "--asha-by": (
        "asha_by",
        {
            "choices": ["objectives", "score"],
            "help": "ASHA: rank each rung by the search's objectives (default; with several, by non-dominated rank "
            "then crowding distance: MO-ASHA) or by its score alone (val_acc, or the first of a train_fn's own "
            "metrics it optimizes)",
        },
    ),
    "--trial-timeout": (
        "trial_timeout",
        {"type": nonneg_float, "help": "seconds of training per trial before it stops with status timeout"},
    ),
    "--keep-weights": (
        "keep_weights",
        {"choices": ["front", "all", "none"], "help": "which trials' weights to keep (default front)"},
    ),
    "--mutation-kinds": (
        "space.mutation_kinds",
        {
            "type": csv,
            "help": "mutations {has_parents} draw from (default: all); seeds = op_change,"
            "kernel_change,add_node, the seeds' layer type change, filter size change and layer addition",
        },
    ),
    "--latency": (
        "train.latency",
        {
            "action": "store_true",
            "default": None,
            "help": "time every trial's inference (latency_ms columns; default: only when --objectives or "
            "--max-latency need it)",
        },
    ),
    "--no-latency": (
        "train.latency",
        {"action": "store_false", "default": None, "help": "never time the trials' inference (no latency columns)"},
    ),
    "--no-cudnn-benchmark": (
        "train.cudnn_benchmark",
        {
            "action": "store_false",
            "default": None,
            "help": "CUDA: no cuDNN autotuning per new layer shape (recorded per trial as cudnn_benchmark)",
        },
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
            "proposals are the best of them ({samples_at_random})",
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
            "({has_parents}), and trains --child-epochs",
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
            "help": "your Python file, run first: what it registers (ops, zoo entries, datasets, controllers, "
            "engines, export formats; README: Extending nasgraph) "
            "(repeatable; saved, so --resume runs it again). It is code, run as you: only name files you trust",
        },
    ),
}


def search_options() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every search flag: the fixed ones and those of the registered controllers (plugins' included)."""
    from nas.registry import CONTROLLERS, ENGINES

    choices = list(CONTROLLERS.names())
    lines = "; ".join(f"{e.name}: {e.summary}" for e in CONTROLLERS if e.summary).replace("%", "%%")
    options = {
        "--controller": ("controller", {"choices": choices, "help": f"search algorithm (default: evolution); {lines}"})
    }
    options["--engine"] = ("engine", engine_flag())
    able = {
        t: ", ".join(e.name for e in CONTROLLERS if getattr(e.load(), t)) for t in ("samples_at_random", "has_parents")
    }
    able["datasets"] = dataset_names()
    fixed = {flag: (key, kw | {"help": _named(kw["help"], able)}) for flag, (key, kw) in FIXED_OPTIONS.items()}
    controllers, engines = entry_flags(CONTROLLERS), entry_flags(ENGINES)
    taken = {*options, *fixed, *OWN_FLAGS}
    for flags in (controllers, engines):
        _refuse_taken(flags, taken)
        taken |= set(flags)
    return options | controllers | engines | fixed


OWN_FLAGS = ("--config", "--name", "--results-dir", "--resume", "--help", "-h")  # search's own, not config keys


def _refuse_taken(flags: dict[str, tuple[str, dict[str, Any]]], taken: set[str]) -> None:
    """RegistryError in one line for a registered option whose flag another option has."""
    from nas.registry import RegistryError

    for flag, (key, _) in flags.items():
        if flag in taken:
            raise RegistryError(
                f"{key}: its flag {flag} is taken by another option; give it another, "
                f'nas.option(..., flag="--{key.replace(".", "-").replace("_", "-")}")'
            )


def dataset_names() -> str:
    """The registered datasets (`nas.data.registry`: built in, prepared shards, plugins'), the default first.
    Their modules import torch, so they are loaded for --help only (`nas.cli.main`); otherwise this says so."""
    import sys

    if "nas.data" not in sys.modules:  # (importing its registry would import the package)
        return "digits (default), or another registered dataset (--help lists them)"
    from nas.data.registry import names

    listed = sorted(names(builtin_only=False), key=lambda n: n != "digits")  # (stable: the rest as registered)
    return ", ".join(f"{n} (default)" if n == "digits" else n for n in listed)


def format_help() -> str:
    """The registered export formats, one clause each (`nas.registry.EXPORT_FORMATS`)."""
    from nas.registry import EXPORT_FORMATS

    return "; ".join(f"{e.name}: {e.summary}" for e in EXPORT_FORMATS).replace("%", "%%")


def _named(text: str, able: dict[str, str]) -> str:
    for trait, names in able.items():
        text = text.replace("{" + trait + "}", names)
    return text


def engine_flag() -> dict[str, Any]:
    """--engine's metavar and help, from the registered engines and published benchmarks."""
    from nas.registry import BENCHMARKS, ENGINES

    entries = [*ENGINES, *BENCHMARKS]
    said = "; ".join(f"{e.usage}: {e.summary}" for e in entries).replace("%", "%%")
    return {
        "type": engine_spec,
        "metavar": "{" + ",".join(e.short for e in entries) + "}",
        "help": f"what trains the trials (default ray); {said}",
    }


def entry_flags(registry: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """A flag per option of a registry's entries (`nas.registry.option`), keyed "controller.population",
    "engine.max_epochs"...; one flag for an option several declare (--population), its help naming each."""
    flags: dict[str, tuple[str, dict[str, Any]]] = {}
    for entry in registry:
        if isinstance(entry.target, str):  # a lazy entry (Ray's engine) declares no options: not loaded for them
            continue
        for f in entry.fields():
            flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            key, kw = flags.get(flag, (f"{registry.kind}.{f.name}", _flag_kind(f, entry.options)))
            said = f"{entry.name}: {f.metadata.get('help', '')}".replace("%", "%%")  # (argparse formats help)
            kw["help"] = f"{kw['help']}; {said}" if "help" in kw else said
            flags[flag] = (key, kw)
    return flags


def _flag_kind(f: Any, owner: type) -> dict[str, Any]:
    """argparse's type, action or choices for an options field, from its annotation and metadata."""
    import typing

    hint = typing.get_type_hints(owner)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if typing.get_origin(hint) in (types.UnionType, typing.Union) and args else hint
    if "choices" in f.metadata:
        return {"choices": list(f.metadata["choices"])}
    if base is bool:
        return {"action": "store_true", "default": None}
    if typing.get_origin(base) is tuple:
        return {"type": csv, "metavar": f.metadata.get("metavar", "A,B,...")}
    kinds = {int: positive_int, float: float, str: str}
    return {"type": f.metadata.get("type", kinds.get(base, str))} | (
        {"metavar": f.metadata["metavar"]} if "metavar" in f.metadata else {}
    )


def __getattr__(name: str) -> Any:
    if name == "SEARCH_OPTIONS":  # (computed: plugins loaded since may have registered more)
        return search_options()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    options = search_options()
    for flag, (_, kw) in options.items():
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
        t.add_argument(flag, **options[flag][1])
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
        t.add_argument(flag, **options[flag][1])
    ex = sub.add_parser(
        "export",
        help="export a trial as standalone PyTorch code + weights",
        description="Write model.py (torch only), weights.safetensors, genotype.json and README.md.",
    )
    ex.add_argument("results", help="results folder")
    ex.add_argument("--trial", default="best", help="best (default), a trial id, or pareto (every front member)")
    ex.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    ex.add_argument("--format", type=csv, default=(), help=f"also write these serving formats: {format_help()}")
    ex.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    ex.add_argument("--plugin", **options["--plugin"][1])  # (a search's own plugins load from its config.json)
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
    from nas.cli.prepare import add_parser

    add_parser(sub)
    return parser


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """What the user asked for: the --config file's options, then explicit flags over them (no defaults)."""
    from nas.config import load_config_file

    data: dict[str, Any] = load_config_file(args.config) if args.config else {}
    data.setdefault("train", {})
    data.setdefault("space", {})
    chosen: dict[str, dict[str, Any]] = {"controller": {}, "engine": {}}  # their options given as flags
    for flag, (key, _) in search_options().items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
        if value is None:
            continue
        section, dot, sub = key.partition(".")
        if dot and section in chosen:
            chosen[section][sub] = list(value) if isinstance(value, tuple) else value
        elif "." in key:
            section, sub = key.split(".", 1)
            if isinstance(data[section], dict):  # otherwise SearchConfig says what is wrong with it
                data[section] = dict(data[section]) | {sub: list(value) if isinstance(value, tuple) else value}
        elif key in chosen and isinstance(data.get(key), dict) and data[key].get("name") == value:
            continue  # --controller evolution over a file's {name: evolution, population: 20}: its options stay
        else:
            data[key] = list(value) if isinstance(value, tuple) else value
    for section in ("controller", "engine"):
        if chosen[section]:  # controller: {name: ..., population: ...} (no name: the default, or on resume the saved)
            named = data.get(section)
            data[section] = (dict(named) if isinstance(named, dict) else {"name": named} if named else {}) | chosen[
                section
            ]
    if getattr(args, "name", None):  # (not in the search options: `train` has its own --name)
        data["name"] = args.name
    return data


def flag_of(key: str) -> str:
    """The command-line flag of a config key, or the key as a config-file option."""
    for flag, (option, _) in search_options().items():
        if option == key:
            return flag
    return f"option {key!r}"


def empty_search_args() -> dict[str, Any]:
    return {flag.lstrip("-").replace("-", "_"): None for flag in search_options()} | {"name": None}
