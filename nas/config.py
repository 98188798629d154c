"""The search configuration: one frozen dataclass, loadable from YAML/JSON, saved beside the results."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas import objectives
from nas.controllers import Controller
from nas.controllers.fixed import Fixed
from nas.errors import NasgraphError, one_line
from nas.registry import CONTROLLERS, Entry, OptionError, RegistryError, engine_entry
from nas.trial.proxies import PROXIES
from nas.trial.train import TrainConfig

if typing.TYPE_CHECKING:
    import searchspace as ss
    from nas.record.folder import DataInfo

KEEP_WEIGHTS = ("front", "all", "none")
ASHA_BY = ("objectives", "score")  # what an ASHA rung ranks by (`SearchConfig.asha_by`)


SMALL_INPUT_WIDTHS = (8, 16, 24, 32)  # stage widths for tiny images (digits' 8x8): no 64-wide first stages
STEM_OPTIONS = ("stem_kernel", "stem_stride")  # a config's space that sets either owns the stem; else the input's
# size picks it (`searchspace.space.stem_for`: inputs over 32 px reach stage 1 at 16-32 px)


DEFAULT_VAL_FRACTION = 0.1
DEFAULT_CONTROLLER = "evolution"
# The controller options of the flat layout before issue 35 (``population: 20`` beside ``controller: evolution``),
# still read from config files, old config.json and keyword arguments into the controller's own options
LEGACY_CONTROLLER_KEYS = ("population", "patience", "sample", "variant", "mutations", "init")
# digits has 1,437 training images: 30 % held out gives 431 validation images, so that accuracy moves in steps of
# 0.23 % rather than 0.7 %, and two training seeds rank architectures alike (BENCHMARKS.md, the digits-cell table)
VAL_FRACTIONS = {"digits": 0.3}


class ConfigError(NasgraphError, ValueError):
    """A configuration value that is not allowed; the message names it and what is allowed."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything a search needs; the resolved config is saved as results/<name>/config.json."""

    name: str = ""  # results folder name; default: <dataset>-<controller>
    controller: str = DEFAULT_CONTROLLER  # a registered controller (`nas.registry.CONTROLLERS`; --help lists them)
    controller_options: Any = None  # its options dataclass, or a mapping of them; None: its defaults. A config
    # file says ``controller: {name: evolution, population: 20}``
    dataset: str = "digits"  # digits, mnist, fashion_mnist, cifar10, cifar100, imagefolder:PATH, synthetic
    data_dir: str | None = None  # where torchvision datasets live (default ~/.cache/nasgraph/data)
    download: bool = False  # let torchvision download the dataset
    val_fraction: float | None = None  # share of the training set held out for validation (what the search
    # optimizes); None: the dataset's (`VAL_FRACTIONS`, else 0.1)
    limit: int | None = None  # use at most this many training images
    image_size: int | None = None  # resize images (imagefolder; default 32)
    trials: int = 20  # architectures to train; rejected and duplicate proposals are logged, not counted
    objectives: tuple[str, ...] = ()  # val_acc, params, flops; default: val_acc and params (tpe: val_acc)
    seed: int = 0
    max_params: int | None = None  # proposals over this are never trained
    max_flops: int | None = None
    max_latency: float | None = None  # milliseconds at batch 1 on the trial's device; slower ones are not trained
    dedupe: bool = True  # a proposal of an architecture already trained replays its result instead of training
    concurrency: int = 2  # trials running at once
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # fractions share a GPU (0.25: four trials per GPU); None: the Ray
    # engine shares the runtime's GPUs among the concurrent trials (`nas.engines.ray_tune.choose_gpus`)
    address: str | None = None  # Ray cluster to join (ray start --head ...); default: a local Ray runtime
    storage: str | None = None  # shared storage for Ray's files on a multi-node cluster
    engine: str = "ray"  # ray, local (one process, trials in sequence), table:PATH (answers from a table), or a
    # registered one (`nas.registry.ENGINES`, `BENCHMARKS`: nb201:DATASET)
    engine_options: Any = None  # its options dataclass, or a mapping (``engine: {name: NAME, OPTION: ...}``)
    asha: bool = False  # stop poor trials early with Ray Tune's ASHA scheduler
    grace_epochs: int = 2  # ASHA: epochs every trial gets
    asha_by: str = "objectives"  # ASHA ranks a rung by the search's objectives (several: MO-ASHA, `nas.engines.
    # halving`), or by its score alone ("score": val_acc or its own first metric, Ray's ASHA as it is)
    reuse_actors: bool = True
    trial_timeout: float = 0.0  # seconds of training per trial; 0 = no limit
    keep_weights: str = "front"  # front (Pareto front + most accurate), all, none
    report_every: int = 5  # rewrite report.html every this many finished trials while the search runs; 0: at the end
    proxy: str = "synflow"  # the zero-cost proxy (`nas.trial.proxies`) that warmup and proxy_filter rank by
    warmup: int = 0  # score this many random architectures by the proxy; the first `population` random
    # proposals are the best of them (evolution's initial population, local search's starts, random's first)
    proxy_filter: int = 0  # each random proposal (and evolution's child) is the best of this many by the proxy
    inherit: bool = False  # a mutated child starts from its parent's trained weights (evolution, local_search)
    child_epochs: int = 0  # epochs of a child that inherited weights; 0: half of train.epochs (at least 1)
    space: dict[str, Any] = field(default_factory=dict)  # SearchSpace overrides, e.g. {"ops": ["conv", "sepconv"]}
    plugins: tuple[str, ...] = ()  # Python files run before the search (their ops, zoo entries, datasets)
    train_fn: str = ""  # module.name of the search's own training function (Python API); "" = the built-in one
    train: TrainConfig = field(default_factory=TrainConfig)
    # (keyword arguments of the flat layout, population=20 ..., are read into controller_options: `_flat_init`)

    def __post_init__(self) -> None:
        legacy = self.__dict__.pop("_flat", {})  # (set by `_flat_init`; not a field)
        self._fill_defaults()
        CHECKS[0].apply(self)  # the controller, whose options come next
        self._controller_options(legacy)
        for check in CHECKS[1:]:  # in order: the first value not allowed is the one reported
            check.apply(self)
        self._engine_options()
        try:
            objectives.senses(self.objectives)
        except ValueError as e:
            raise ConfigError(f"objectives: {e}") from None
        self._derive()

    def _fill_defaults(self) -> None:
        """Defaults that depend on other options (before the checks, which see them)."""
        if self.val_fraction is None:
            object.__setattr__(self, "val_fraction", VAL_FRACTIONS.get(self.dataset, DEFAULT_VAL_FRACTION))
        if self.max_latency is None and self.train.max_latency_ms:  # given as a training option
            object.__setattr__(self, "max_latency", self.train.max_latency_ms)

    def _controller_options(self, legacy: dict[str, Any]) -> None:
        """controller_options as the controller's own dataclass: from a mapping, the options of another
        controller (those it shares), or the flat keyword arguments; ConfigError naming a value not allowed."""
        entry = controller_entry(self.controller)
        legacy = {k: v for k, v in legacy.items() if v is not None and k in _names(entry)}
        object.__setattr__(self, "controller_options", _options(entry, self.controller_options, legacy))

    def _engine_options(self) -> None:
        """engine_options as its engine's own dataclass (a benchmark's: none)."""
        object.__setattr__(self, "engine_options", _options(_engine(self), self.engine_options))

    def __getattr__(self, name: str) -> Any:
        """The flat layout's names (``cfg.population``) read the controller's options."""
        options = self.__dict__.get("controller_options")
        if name in LEGACY_CONTROLLER_KEYS and options is not None:
            return getattr(options, name, None)  # (None: an option this controller does not have)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def controller_class(self) -> type[Controller]:
        """The class its controller is (``train``: `Fixed`, ``launch.py train``'s)."""
        return Fixed if self.controller == Fixed.name else CONTROLLERS.get(self.controller).load()

    def _derive(self) -> None:
        """What follows from the checked options: the trial's latency limit, the name, the proxy to record."""
        if (self.max_latency or 0.0) != self.train.max_latency_ms:  # the trial enforces it where it measures
            limit = self.max_latency or 0.0
            object.__setattr__(self, "train", dataclasses.replace(self.train, max_latency_ms=limit))
        if not self.name:
            object.__setattr__(self, "name", f"{self.dataset.split(':')[0]}-{self.controller}")
        if (self.warmup or self.proxy_filter) and self.proxy not in self.train.proxies:  # recorded for every trial
            object.__setattr__(
                self, "train", dataclasses.replace(self.train, proxies=(*self.train.proxies, self.proxy))
            )

    def trial_epochs(self, inherited: bool) -> int:
        """Epochs of a trial: `child_epochs` (default half) for a child that inherited its parent's weights."""
        if not inherited:
            return self.train.epochs
        return self.child_epochs or max(1, self.train.epochs // 2)

    def measures_latency(self) -> bool:
        """Whether its trials time their inference: ``train.latency`` true or false as given; "auto" (the default)
        when an objective or ``--max-latency`` needs it (timing new batch shapes costs a trial 1-5 % of its time on
        a CPU, and cuDNN autotuning of two more shapes on a GPU; BENCHMARKS.md, 19)."""
        latency = self.train.latency
        return _latency(self) if latency == "auto" else bool(latency)

    def objective_senses(self) -> dict[str, str]:
        """Objectives in order with 'max'/'min' (`nas.objectives.for_controller`)."""
        return objectives.for_controller(self.controller_class().default_objectives, self.objectives)

    def front_senses(self) -> dict[str, str]:
        """The front reports and kept weights use (`nas.objectives.front`)."""
        return objectives.front(self.objectives)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (config.json): ``controller`` is ``{name: ..., OPTION: ...}``."""
        d = dataclasses.asdict(self)
        d["controller"] = {"name": self.controller} | d.pop("controller_options")
        engine = d.pop("engine_options")
        if engine:  # (a string for an engine without options: every built-in one)
            d["engine"] = {"name": self.engine} | engine
        d["train"] = self.train.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchConfig:
        """Build from plain data (a config file or config.json); unknown keys and wrong types raise ConfigError."""
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a mapping of option names to values, got {type(d).__name__}")
        d = dict(d)
        plugins = d.get("plugins") or ()
        if isinstance(plugins, list | tuple) and all(isinstance(p, str) for p in plugins):
            from nas.plugins import load_all

            load_all(plugins)  # first: what they register (a controller, an engine...) is named below
        train = d.pop("train", {})
        legacy = {k: d.pop(k) for k in LEGACY_CONTROLLER_KEYS if k in d}
        controller = d.get("controller", DEFAULT_CONTROLLER)
        if isinstance(controller, dict):  # controller: {name: evolution, population: 20}
            options = dict(controller)
            d["controller"] = options.pop("name", DEFAULT_CONTROLLER)
            d["controller_options"] = options
        if isinstance(d.get("engine"), dict):  # engine: {name: my_engine, option: ...}
            options = dict(d["engine"])
            d["engine"] = options.pop("name", "ray")
            d["engine_options"] = options
        for section in ("controller_options", "engine_options"):
            if section in d and not isinstance(d[section], dict):
                raise ConfigError(f"{section} must be a mapping of options, got {d[section]!r:.60}")
        name = d.get("controller", DEFAULT_CONTROLLER)
        if legacy and isinstance(name, str) and name in CONTROLLERS:
            named = _names(CONTROLLERS.get(name))  # old files hold every controller's: keep its own
            # (given beside a controller mapping, as `nas.search(cfg, population=30)` does, the flat key wins)
            d["controller_options"] = d.get("controller_options", {}) | {k: v for k, v in legacy.items() if k in named}
        kwargs = _coerce_fields(cls, d, "")
        if not isinstance(train, dict):
            raise ConfigError(f"train must be a mapping of training options, got {type(train).__name__}")
        kwargs["train"] = _construct(TrainConfig, _coerce_fields(TrainConfig, train, "train."))
        return _construct(cls, kwargs)

    @classmethod
    def from_saved(cls, d: dict[str, Any]) -> SearchConfig:
        """A results folder's config.json, with what older ones mean by a key they lack: a search saved before
        ``asha_by`` ranked its ASHA rungs by one number (`nas.engines.ray_tune`), and resumes doing so. (One
        saved before the stem followed the input size resumes with its 3x3 stride-1 stem: `make_space`.)"""
        if isinstance(d, dict) and "asha_by" not in d:
            d = d | {"asha_by": "score"}
        return cls.from_dict(d)


def _flat_init(init: Callable[..., None]) -> Callable[..., None]:
    """SearchConfig's __init__ also taking the flat layout's controller options (``population=20``), which go
    over ``controller_options`` (so ``dataclasses.replace(cfg, population=30)`` changes it). They are not
    fields: `dataclasses.replace` never reads them back, and ``cfg.population`` reads the options (`__getattr__`)."""

    @functools.wraps(init)
    def __init__(self: SearchConfig, *args: Any, **kwargs: Any) -> None:
        flat = {k: kwargs.pop(k) for k in LEGACY_CONTROLLER_KEYS if k in kwargs}
        object.__setattr__(self, "_flat", {k: v for k, v in flat.items() if v is not None})
        init(self, *args, **kwargs)

    return __init__


SearchConfig.__init__ = _flat_init(SearchConfig.__init__)  # type: ignore[method-assign]


@dataclass(frozen=True)
class Check:
    """One rule of `CHECKS`: `key` (an option, or which of two options is at fault) must be `allowed`."""

    key: str | Callable[[SearchConfig], str]
    ok: Callable[[SearchConfig], bool]
    allowed: str | Callable[[SearchConfig], str]

    def apply(self, cfg: SearchConfig) -> None:
        if not self.ok(cfg):
            key = self.key(cfg) if callable(self.key) else self.key
            allowed = self.allowed(cfg) if callable(self.allowed) else self.allowed
            raise ConfigError(f"{key} must be {allowed}; got {_value_of(cfg, key)!r}")


def _controllers() -> tuple[str, ...]:
    return CONTROLLERS.names()


def controller_entry(name: str) -> Entry:
    """The registry entry of a controller name (``train``: `Fixed`, with no options)."""
    if name == Fixed.name:
        return Entry("controller", Fixed.name, Fixed)
    return CONTROLLERS.get(name)


def _names(entry: Entry) -> set[str]:
    return {f.name for f in entry.fields()}


def _options(entry: Entry, given: Any, legacy: dict[str, Any] | None = None) -> Any:
    """An entry's options dataclass from what a config gives: its dataclass, a mapping, or another entry's
    dataclass (those fields it shares: `dataclasses.replace` of the controller), with ``legacy`` flat keys
    over them; ConfigError naming an unknown option or a value not allowed (``controller.population ...``)."""
    legacy = legacy or {}
    if type(given) is entry.options and not legacy:
        return given
    if dataclasses.is_dataclass(given):
        given = {k: v for k, v in dataclasses.asdict(given).items() if k in _names(entry)}
    if given is not None and not isinstance(given, dict):
        raise ConfigError(f"{entry.kind}_options must be a mapping of options, got {type(given).__name__}")
    values = dict(given or {}) | legacy
    try:
        entry.check_keys(values)
    except RegistryError as e:
        raise ConfigError(str(e)) from None
    values = _coerce_fields(entry.options, values, f"{entry.kind}.")
    try:
        return entry.make_options(values)
    except OptionError as e:
        raise ConfigError(f"{entry.kind}.{e}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{entry.kind} {entry.name}: {one_line(e)}") from None


def _able(trait: str) -> list[str]:
    """The registered controllers with a capability (`Controller.samples_at_random`, `has_parents`)."""
    return [e.name for e in CONTROLLERS if getattr(e.load(), trait)]


def _latency(c: SearchConfig) -> bool:
    """Whether the search limits or optimizes latency."""
    return bool(c.max_latency) or any(o.partition(":")[0] in ("latency", "latency_ms") for o in c.objectives)


def _latency_key(c: SearchConfig) -> str:
    return "max_latency" if c.max_latency else "objectives"


def _unset_latency(c: SearchConfig) -> str:
    return "unset" if c.max_latency else "free of latency"


def _proxy_key(c: SearchConfig) -> str:
    return "warmup" if c.warmup else "proxy_filter" if c.proxy_filter else "train.proxies"


def _table(c: SearchConfig) -> bool:
    """Whether its engine looks results up instead of training (``table:PATH``, a benchmark's ``nb201:...``)."""
    return not _engine(c).trait("trains", True)


def _engine(c: SearchConfig) -> Entry:
    return engine_entry(c.engine)[0]


def _engine_said(c: SearchConfig) -> str:
    """The engine as an error names it: "a table engine (table:PATH)", or "engine NAME"."""
    return f"a table engine ({c.engine})" if _table(c) else f"engine {_engine(c).name}"


def _engine_ok(c: SearchConfig) -> bool:
    try:
        engine_entry(c.engine)
    except NasgraphError:  # (RegistryError, or a benchmark's own error naming its argument)
        return False
    return True


def _engine_allowed(c: SearchConfig) -> str:
    """An engine's usage where its name is known (``table:PATH[:mean]``), else every engine and benchmark."""
    from nas.registry import BENCHMARKS, ENGINES

    base = c.engine.partition(":")[0]
    for registry in (ENGINES, BENCHMARKS):
        if base in registry:
            return registry.get(base).usage
    return f"one of {', '.join(e.short for e in (*ENGINES, *BENCHMARKS))}"


# What SearchConfig allows, checked in this order when one is made: (option, allowed?, what is allowed).
CHECKS: tuple[Check, ...] = (
    Check(
        "controller",
        lambda c: c.controller in (*_controllers(), "train"),
        lambda c: f"one of {', '.join(_controllers())}",
    ),
    Check("trials", lambda c: c.trials >= 1, "an integer >= 1"),
    Check("seed", lambda c: c.seed >= 0, "an integer >= 0"),
    Check("concurrency", lambda c: c.concurrency >= 1, "an integer >= 1"),
    Check("cpus_per_trial", lambda c: 0 < c.cpus_per_trial < math.inf, "a number > 0"),
    Check("gpus_per_trial", lambda c: c.gpus_per_trial is None or 0 <= c.gpus_per_trial < math.inf, "a number >= 0"),
    Check(
        "engine",
        _engine_ok,
        _engine_allowed,
    ),
    Check("keep_weights", lambda c: c.keep_weights in KEEP_WEIGHTS, f"one of {', '.join(KEEP_WEIGHTS)}"),
    Check("val_fraction", lambda c: 0.0 < c.val_fraction < 0.9, "a number in (0, 0.9)"),
    Check("max_params", lambda c: c.max_params is None or c.max_params > 0, "a positive integer"),
    Check("max_flops", lambda c: c.max_flops is None or c.max_flops > 0, "a positive integer"),
    Check(
        "max_latency",
        lambda c: c.max_latency is None or 0 < c.max_latency < math.inf,
        "a positive number of milliseconds",
    ),
    Check(
        _latency_key,
        lambda c: not _latency(c) or _engine(c).trait("latency", True),
        lambda c: f"{_unset_latency(c)} with {_engine_said(c)}, which has no latencies",
    ),
    Check(
        _latency_key,
        lambda c: not _latency(c) or c.train.latency,
        lambda c: f"{_unset_latency(c)} when train.latency is false (not measured)",
    ),
    Check("asha_by", lambda c: c.asha_by in ASHA_BY, f"one of {', '.join(ASHA_BY)}"),
    Check("trial_timeout", lambda c: 0 <= c.trial_timeout < math.inf, "a number >= 0 (seconds)"),
    Check("report_every", lambda c: c.report_every >= 0, "an integer >= 0 (finished trials; 0: only at the end)"),
    Check("name", lambda c: not c.name or _safe_name(c.name), "letters, digits, '.', '_' and '-' only"),
    Check("proxy", lambda c: c.proxy in PROXIES, f"one of {', '.join(PROXIES)}"),
    Check("warmup", lambda c: c.warmup >= 0, "an integer >= 0 (architectures scored by the proxy; 0: no warm-up)"),
    Check("proxy_filter", lambda c: c.proxy_filter >= 0, "an integer >= 0 (candidates per proposal; 0: no filter)"),
    Check(
        _proxy_key,
        lambda c: not (c.warmup or c.proxy_filter or c.train.proxies) or _engine(c).trait("images", True),
        lambda c: f"unset with {_engine(c).name}: its table has no images to score networks on",
    ),
    Check("child_epochs", lambda c: c.child_epochs >= 0, "an integer >= 0 (0: half of the epochs)"),
    Check(
        lambda c: "warmup" if c.warmup else "proxy_filter",
        lambda c: not (c.warmup or c.proxy_filter) or c.controller_class().samples_at_random,
        lambda c: (
            f"0 with controller {c.controller}; warm-up and the proxy filter work with "
            f"{', '.join(_able('samples_at_random'))}"
        ),
    ),
    Check(
        "inherit",
        lambda c: not c.inherit or c.controller_class().has_parents,
        lambda c: (
            f"off with controller {c.controller}: only {', '.join(_able('has_parents'))} propose children "
            "of a trained parent"
        ),
    ),
    Check(
        "inherit",
        lambda c: not c.inherit or not _table(c),
        "off with a table engine: a table answers from-scratch training only",
    ),
)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Options from a YAML or JSON file (safe loaders only)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001 -- yaml and json raise various parse errors
        raise ConfigError(
            f"config file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {one_line(e)}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of options, got {type(data).__name__}")
    return data


def _coerce_fields(cls: type, d: dict[str, Any], prefix: str) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in d.items():
        if key not in fields:
            raise ConfigError(f"unknown option {prefix}{key!r}; options: {', '.join(sorted(fields))}")
        out[key] = _coerce(value, hints[key], prefix + key)
    return out


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check a plain value against a field type, converting lists to tuples."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) > 1 and set(kinds) <= {bool, str}:  # train.latency: true, false or "auto"
            if type(value) not in kinds:
                raise ConfigError(f"{key} must be true, false or a name, got {type(value).__name__} {value!r:.60}")
            return value
        hint = kinds[0]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings, got {value!r:.60}")
        return tuple(value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r:.60}")
        return value
    want = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}.get(hint)
    if want and (not isinstance(value, want) or (isinstance(value, bool) and hint is not bool)):
        raise ConfigError(f"{key} must be {hint.__name__}, got {type(value).__name__} {value!r:.60}")
    return float(value) if hint is float else value


def _construct(cls: type, kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(one_line(e)) from None


def _safe_name(name: str) -> bool:
    return name not in (".", "..") and all(c.isalnum() or c in "._-" for c in name) and len(name) <= 128


def _value_of(cfg: SearchConfig, key: str) -> Any:
    return getattr(cfg, key.split("/")[0], None)


def with_stem(cfg: SearchConfig, space: ss.SearchSpace) -> SearchConfig:
    """The config with the stem its space was given (`make_space`) written into its space options, so a resumed
    search keeps it; the config itself where the stem was the config's own, or the space a template."""
    if (
        cfg.space.get("template")
        or set(STEM_OPTIONS) & set(cfg.space)
        or (space.stem_kernel, space.stem_stride) == (3, 1)
    ):
        return cfg  # (3, 1): the stem of inputs up to 32 px, and what a config without one resumes with
    return dataclasses.replace(
        cfg, space={**cfg.space, "stem_kernel": space.stem_kernel, "stem_stride": space.stem_stride}
    )


def make_space(cfg: SearchConfig, info: DataInfo, saved: bool = False) -> ss.SearchSpace:
    """The SearchSpace for this config and dataset (config lists become tuples; tiny inputs get narrow widths and
    large ones a strided stem unless the config sets them; ``saved``: the config of a search being resumed);
    ConfigError if it cannot be."""
    import random

    import searchspace as ss
    from searchspace.genotype import GenotypeError
    from searchspace.space import stem_for

    allowed = {f.name for f in dataclasses.fields(ss.SearchSpace)} - {"in_channels", "num_classes", "input_size"}
    unknown = sorted(set(cfg.space) - allowed)
    if unknown:
        raise ConfigError(f"unknown search space option {unknown[0]!r}; options: {', '.join(sorted(allowed))}")
    opts = {k: _tuples(v) for k, v in cfg.space.items()}
    if "widths" not in opts and max(info.input_size) <= 16:
        opts["widths"] = SMALL_INPUT_WIDTHS
    if not opts.get("template") and not set(STEM_OPTIONS) & set(opts):
        # a saved config without a stem is a search of inputs up to 32 px, or one made before the stem followed
        # the input size (a new search saves any other stem: `with_stem`): both had a 3x3 stride-1 stem
        opts["stem_kernel"], opts["stem_stride"] = (3, 1) if saved else stem_for(tuple(info.input_size))
    try:
        space = ss.SearchSpace(
            **opts, in_channels=info.in_channels, num_classes=info.num_classes, input_size=info.input_size[0]
        )
        space.sample(random.Random(cfg.seed))  # options that only fail when sampling fail here, before any trial
    except (GenotypeError, TypeError, ValueError) as e:
        raise ConfigError(f"search space: {e}") from None
    return space


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list | tuple) else v
