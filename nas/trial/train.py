"""Trial training: one genotype, one dataset, one config -> metrics and weights.

Fast the way the fastest CIFAR trainers are (airbench, hlb-CIFAR10): the
dataset goes to the device once as uint8; each epoch's augmentation (random
crop with padding, horizontal flip) runs on the device over the whole set;
batches are index gathers, normalised on the fly; bf16 autocast and
channels_last on CUDA; the built graph is fx-traced into straight-line code;
label smoothing; SGD with Nesterov momentum and a one-cycle or cosine
schedule; the loss is read back once per epoch, so the hot loop never waits
on the host. The CPU path is the same code.

Failures are results, not crashes: a NaN or exploding loss gives status
``diverged``, running out of memory ``oom`` (memory is freed), a genotype that
does not build ``invalid``, the time limit ``timeout``, anything else
``error`` with its message.
"""

from __future__ import annotations

import math
import random
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import searchspace as ss
from nas.data import DataSplits, normalizer
from nas.data.shards import batches
from nas.errors import first_line
from nas.status import Status
from nas.trial import latency as nas_latency
from nas.trial.clock import PhaseClock
from nas.trial.contract import (  # noqa: F401 -- MEASURED, RESERVED, RESERVED_PREFIX: re-exported
    MEASURED,
    MISUSE,
    RESERVED,
    RESERVED_PREFIX,
    Report,
    TimeUp,
    TrainFn,
    TrainFnError,
    TrialContext,
    custom_part,
    own_metrics,
)
from nas.trial.devices import device_ok, free_memory, is_oom, peak_memory_mb, resolve_device
from nas.trial.images import (  # noqa: F401 -- DEVICE_SHARE, EVAL_BATCH, random_crop: re-exported
    DEVICE_SHARE,
    EVAL_BATCH,
    ORDER_SEED,
    augment,
    auto_batch_size,
    eval_batches,
    mapped,
    on_device,
    random_crop,
    resident,
)
from nas.trial.inherit import inherit
from nas.trial.proxies import PROXIES, trial_scores
from searchspace.genotype import Genotype, GenotypeError

SCHEDULES = ("onecycle", "cosine")
FAULTS = ("", "nan", "oom", "raise", "hang")
DIVERGED_LOSS = 1e4
PROGRESS_EVERY = 10.0  # seconds between a long trial's progress notes (`train_trial`'s ``progress``)
HANG_FACTOR, HANG_GRACE = 2.0, 60.0  # auto hang limit: a trial still running at 2 x max_seconds + 60 s is hung


@dataclass(frozen=True)
class TrainConfig:
    """How one trial trains; saved with the search config."""

    epochs: int = 6  # passes over the training split
    batch_size: int = 0  # 0 = auto: about 20 steps per epoch, a power of two in [32, 512]
    lr: float = 0.2  # peak learning rate of SGD with Nesterov momentum
    momentum: float = 0.9
    weight_decay: float = 5e-4  # applied to conv and linear weights, not to norms and biases
    label_smoothing: float = 0.1
    schedule: str = "onecycle"  # onecycle: linear warm-up then linear decay; cosine: warm-up then cosine
    warmup: float = 0.2  # fraction of all steps spent warming up
    augment: bool = True  # random crop with padding, and flips where the dataset allows them
    device: str = "auto"  # auto (CUDA if available), cpu, cuda, cuda:N
    bf16: bool = True  # bfloat16 autocast: on CUDA, and on CPUs with native bf16 for networks big enough to gain
    channels_last: bool = True  # NHWC memory format where bf16 is used (and always on CUDA)
    cpu_bf16_mflops: float = 2.0  # CPU: bf16 only for networks of at least this many forward MFLOPs per image
    trace: bool = True  # fx-trace the built graph into straight-line code
    compile: bool = False  # torch.compile the model (slow start, faster steps)
    cudnn_benchmark: bool = True  # CUDA: cuDNN times its algorithms per new layer shape (BENCHMARKS.md, GPU)
    max_seconds: float = 0.0  # training time limit per trial; 0 = none
    eval_batch_size: int = 0  # 0 = auto: on CUDA (or compiled) the training batch, else 1024 (`eval_batches`)
    threads: int = 0  # CPU threads for this trial; 0 = torch's default
    memory_fraction: float = 0.0  # cap on this process's share of GPU memory; 0 = no cap
    keep_weights: bool = True  # return the trained weights
    fault: str = ""  # fault injection for reliability tests: nan, oom, raise or hang, in the first epoch
    fault_rate: float = 1.0  # share of trials the fault hits, drawn from each trial's seed
    hang_seconds: float = 0.0  # a trial still running this long is hung and ended; 0 = auto (see hang_limit)
    curves: bool = False  # record validation and test accuracy after every epoch (a tabular benchmark's curves)
    proxies: tuple[str, ...] = ()  # zero-cost proxies (`nas.trial.proxies`) scored at the trial's initialisation
    latency: bool | str = "auto"  # time inference on the trial's device before training (`nas.trial.latency`): true,
    # false, or auto: a search measures it when an objective or --max-latency needs it (`SearchConfig.measures_latency`),
    # a trial trained on its own always
    latency_batch: int = 64  # the serving batch timed besides batch 1 (latency_batch_ms)
    latency_repeats: int = 10  # timed runs per batch size (the median is recorded), within about a second
    max_latency_ms: float = 0.0  # a trial slower than this at batch 1 is rejected before training; 0 = no limit

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size == 0 or self.batch_size >= 2, "batch_size must be 0 (auto) or >= 2"),
            (self.lr > 0 and math.isfinite(self.lr), "lr must be a positive number"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (0.0 <= self.warmup < 1.0, "warmup must be in [0, 1)"),
            (0.0 <= self.label_smoothing < 1.0, "label_smoothing must be in [0, 1)"),
            (0.0 <= self.momentum < math.inf, "momentum must be a number >= 0"),
            (0.0 <= self.weight_decay < math.inf, "weight_decay must be a number >= 0"),
            (self.eval_batch_size >= 0, "eval_batch_size must be >= 0 (0: auto)"),
            (self.threads >= 0, "threads must be >= 0 (0: torch's default)"),
            (0 <= self.max_seconds < math.inf, "max_seconds must be a number >= 0"),
            (device_ok(self.device), f"device must be auto, cpu, mps, cuda or cuda:N, got {self.device!r}"),
            (0.0 <= self.memory_fraction <= 1.0, "memory_fraction must be in [0, 1]"),
            (self.fault in FAULTS, f"fault must be one of {', '.join(repr(f) for f in FAULTS)}"),
            (0.0 <= self.fault_rate <= 1.0, "fault_rate must be in [0, 1]"),
            (0 <= self.hang_seconds < math.inf, "hang_seconds must be a number >= 0"),
            (set(self.proxies) <= set(PROXIES), f"proxies must be among {', '.join(PROXIES)}"),
            (0 <= self.cpu_bf16_mflops < math.inf, "cpu_bf16_mflops must be a number >= 0"),
            (self.latency in (True, False, "auto"), f"latency must be true, false or auto, got {self.latency!r}"),
            (self.latency_batch >= 1, "latency_batch must be >= 1"),
            (self.latency_repeats >= 1, "latency_repeats must be >= 1"),
            (0 <= self.max_latency_ms < math.inf, "max_latency_ms must be a number >= 0 (0: no limit)"),
            (self.latency or not self.max_latency_ms, "max_latency_ms needs latency measured (latency: true)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def hang_limit(self) -> float:
        """Seconds after which a trial that has not ended is hung (0: never); `max_seconds` alone is cooperative."""
        if self.hang_seconds:
            return self.hang_seconds
        return self.max_seconds * HANG_FACTOR + HANG_GRACE if self.max_seconds else 0.0


@dataclass
class TrialResult:
    """What a trial produced: status, metrics and (optionally) trained weights."""

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    state_dict: dict[str, torch.Tensor] | None = None

    @classmethod
    def hung(cls, seconds: float, limit: float, ending: str) -> TrialResult:
        """The result of a trial ended by the hang watchdog after `seconds` (`ending`: what was done about it)."""
        error = f"hung: still running after {seconds:.0f}s (limit {limit:g}s); {ending}"
        return cls(Status.TIMEOUT, {"error": error, "wall_seconds": seconds})


Notes = Callable[[dict[str, Any]], None]  # a long trial's progress inside its epochs (`_Ticker`)


def train_trial(
    genotype: Genotype,
    data: DataSplits,
    cfg: TrainConfig,
    seed: int = 0,
    report: Report | None = None,
    train_fn: TrainFn | None = None,
    init: Mapping[str, torch.Tensor] | None = None,
    progress: Notes | None = None,
    clock: PhaseClock | None = None,
    complexity: tuple[int, int] | None = None,
) -> TrialResult:
    """Train and evaluate one genotype; never raises for the genotype's or the run's failures.

    With `train_fn`, it trains the built model instead of the built-in trainer (`_own_training`); a
    train_fn that breaks its contract gives status `MISUSE`, which engines turn into a stopped search.
    `init`: a parent's trained weights; every tensor whose name and shape the model shares starts
    from it (`nas.trial.inherit`), the share of parameters inherited is the metric ``inherited``.
    `cfg.proxies` are scored on the model as initialised from `seed` before it trains (``proxies``).
    `progress` hears, every `PROGRESS_EVERY` seconds of the built-in trainer's training, where it is inside
    its epochs (epoch, step, steps, seconds, images_per_second): `report` comes only after each epoch.
    `clock`: the trial's clock when its worker started it (`PhaseClock`); ``wall_seconds`` is its whole time, and
    ``phases`` says where it went (`nas.record.row.PHASES`). `complexity`: its (parameters, FLOPs) where the driver
    counted them already (a --max-flops search), so they are not counted twice.
    """
    clock = clock or PhaseClock()
    clock.begin("build")
    metrics: dict[str, Any] = {"seed": seed}
    try:
        params, flops = complexity or ss.complexity(genotype, data.in_channels, data.num_classes, data.input_size)
        metrics |= {"params": params, "flops": flops}
    except GenotypeError as e:
        return TrialResult(Status.INVALID, metrics | {"error": str(e)} | clock.result())
    if cfg.proxies:
        clock.begin("proxies")
        metrics["proxies"] = trial_scores(genotype, data, cfg.proxies, seed, (params, flops))
        clock.begin("build")
    try:
        device = resolve_device(cfg.device)
    except ValueError as e:  # this worker has no such device
        return TrialResult(Status.ERROR, metrics | {"error": str(e)} | clock.result())
    if device.type == "cuda":  # set for a train_fn's trial too: the row says what its convolutions ran with
        torch.backends.cudnn.benchmark = metrics["cudnn_benchmark"] = cfg.cudnn_benchmark
    if train_fn is not None:
        return _own_training(train_fn, genotype, data, cfg, seed, device, report, metrics, clock, init)
    run = None
    try:
        run = _Run(genotype, data, cfg, seed, device, init, flops, clock)
        run.ticker = _Ticker(progress, cfg.epochs, run.steps_per_epoch, run.batch_size)
        if init is not None:
            metrics["inherited"] = run.inherited
        over = _latency(run.net, data, cfg, device, metrics, clock, run.amp, run.fmt)
        status = Status.REJECTED if over else run.fit(metrics, report)
        if over:
            metrics["error"] = over
    except GenotypeError as e:
        status, metrics["error"] = Status.INVALID, str(e)
    except Exception as e:  # noqa: BLE001 -- every failure becomes a result
        status, metrics["error"] = (
            (Status.OOM, f"out of memory: {first_line(e)}") if is_oom(e) else (Status.ERROR, _error_text(e))
        )
    clock.begin("weights")
    state = run.weights() if run is not None and status == Status.OK and cfg.keep_weights else None
    clock.begin("cleanup")
    metrics["peak_memory_mb"] = peak_memory_mb(device)
    del run
    free_memory(device)
    if device.type == "cuda":  # what this process still holds once the trial is gone (a reused worker keeps it)
        metrics["resident_memory_mb"] = torch.cuda.memory_reserved(device) / 2**20
    return TrialResult(status, metrics | clock.result(), state)


def _own_training(
    train_fn: TrainFn,
    genotype: Genotype,
    data: DataSplits,
    cfg: TrainConfig,
    seed: int,
    device: torch.device,
    report: Report | None,
    metrics: dict[str, Any],
    clock: PhaseClock,
    init: Mapping[str, torch.Tensor] | None = None,
) -> TrialResult:
    """A user's ``train_fn(model, data, config, report) -> metrics`` on the built model, as a trial.

    Exceptions inside it are results (``error``, ``oom``), as with the built-in trainer; `report` past the
    time limit ends it as ``timeout`` with the last reported metrics; returning anything but a non-empty
    mapping of names to numbers is `MISUSE`.
    """
    torch.manual_seed(seed)
    random.seed(seed)
    deadline = math.inf  # set when train_fn starts, as the built-in trainer's is when its first epoch does
    reported: dict[str, Any] = {}

    def checked_report(values: Mapping[str, Any]) -> None:
        reported.clear()
        reported.update(own_metrics(values, "report() was given"))
        if report is not None:
            report(metrics | reported | {"custom": custom_part(reported)})
        if time.perf_counter() > deadline:
            raise TimeUp

    model = None
    state = None
    try:
        model = ss.build(genotype, data.in_channels, data.num_classes)
        if init is not None:
            metrics["inherited"] = inherit(model, init, tuple(data.train_x.shape[1:]))
        clock.begin("to_device")
        clock.on(device)
        model = model.to(device)
        over = _latency(model, data, cfg, device, metrics, clock)
        if over:
            clock.begin("cleanup")
            del model
            free_memory(device)
            return TrialResult(Status.REJECTED, metrics | {"error": over} | clock.result())
        clock.begin("train_fn")
        deadline = time.perf_counter() + cfg.max_seconds if cfg.max_seconds else math.inf
        context = TrialContext(cfg, seed, device, genotype, deadline)
        returned = train_fn(model, data, context, checked_report)
        try:
            own = own_metrics(returned, "train_fn returned")
        except TrainFnError as e:
            return TrialResult(MISUSE, metrics | {"error": str(e)})
        status = Status.OK
        clock.begin("weights")
        if cfg.keep_weights:
            state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    except TrainFnError as e:  # from report(): the values it was given
        return TrialResult(MISUSE, metrics | {"error": str(e)})
    except TimeUp:
        status, own = Status.TIMEOUT, dict(reported)
        own["error"] = f"stopped at the {cfg.max_seconds:g}s limit (at a report)"
    except GenotypeError as e:
        status, own = Status.INVALID, {"error": str(e)}
    except Exception as e:  # noqa: BLE001 -- every failure inside a train_fn becomes a result
        status = Status.OOM if is_oom(e) else Status.ERROR
        own = dict(reported) | {"error": f"out of memory: {first_line(e)}" if is_oom(e) else _error_text(e)}
    clock.begin("cleanup")
    del model
    metrics |= own | {"custom": custom_part(own)}
    metrics["peak_memory_mb"] = peak_memory_mb(device)
    free_memory(device)
    return TrialResult(status, metrics | clock.result(), state)


class _Run:
    """One training run's state: model, data on the device, optimizer, schedule."""

    def __init__(
        self,
        genotype: Genotype,
        data: DataSplits,
        cfg: TrainConfig,
        seed: int,
        device: torch.device,
        init: Mapping[str, torch.Tensor] | None = None,
        flops: int = 0,
        clock: PhaseClock | None = None,
    ):
        self.cfg, self.data, self.device = cfg, data, device
        self.clock = clock = clock or PhaseClock()
        self.amp = uses_bf16(cfg, device, flops)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(seed)
        last = cfg.channels_last and (device.type == "cuda" or self.amp)
        self.fmt = torch.channels_last if last else torch.contiguous_format
        model = ss.build(genotype, data.in_channels, data.num_classes)
        self.inherited = inherit(model, init, tuple(data.train_x.shape[1:])) if init is not None else 0.0
        clock.begin("to_device")
        clock.on(device)
        if device.type == "cuda":
            if cfg.memory_fraction:
                torch.cuda.set_per_process_memory_fraction(cfg.memory_fraction, device)
            torch.cuda.reset_peak_memory_stats(device)
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.model = model.to(device, memory_format=self.fmt)
        clock.begin("build")
        self.net = self._compile(self.model)
        clock.begin("to_device")
        self.resident = resident(data, device, cfg.memory_fraction)
        if data.mapped:  # open the maps (and fill a node-local cache) now, before training's clock starts
            for split in (data.train_x, data.val_x, data.test_x):
                split.take(np.zeros(min(1, len(split)), dtype=np.int64))
        self.train_x = on_device(data.train_x, device) if self.resident else data.train_x  # else: streamed
        self.train_y = data.train_y.to(device)
        self.cpu_gen = torch.Generator().manual_seed(seed + ORDER_SEED)  # the streamed path's order (on the CPU)
        self.scale, self.shift = normalizer(data, device)
        self.batch_size = cfg.batch_size or auto_batch_size(len(self.train_x))
        self.eval_batch, self.eval_padded = eval_batches(cfg, device, self.batch_size)
        self.steps_per_epoch = max(1, len(self.train_x) // self.batch_size)
        self.opt = _optimizer(self.model, cfg)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, _lr_lambda(cfg, cfg.epochs * self.steps_per_epoch))
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.fault = cfg.fault if cfg.fault and random.Random(seed).random() < cfg.fault_rate else ""
        self.ticker = _Ticker(None, cfg.epochs, self.steps_per_epoch, self.batch_size)

    def _compile(self, model: nn.Module) -> nn.Module:
        net = model
        if self.cfg.trace:
            try:
                net = ss.trace(model)
            except Exception:  # noqa: BLE001 -- an op fx cannot trace (a plugin's control flow): run it eagerly
                net = model
        return torch.compile(net) if self.cfg.compile else net

    def fit(self, metrics: dict[str, Any], report: Report | None) -> str:
        cfg, status, train_time, images = self.cfg, Status.OK, 0.0, 0
        deadline = time.perf_counter() + cfg.max_seconds if cfg.max_seconds else math.inf
        clock, tested = self.clock, None  # tested: the last epoch's test (accuracy, loss), with curves
        self.ticker.restart()
        for epoch in range(1, cfg.epochs + 1):
            clock.begin("first_step" if epoch == 1 else "train")
            t0 = time.perf_counter()
            train_loss, seen, timed_out = self._epoch(epoch, deadline)
            train_time += time.perf_counter() - t0
            images += seen
            clock.begin("evaluate")
            val_acc, val_loss = self.evaluate(self.data.val_x, self.data.val_y)
            metrics |= {"epochs": epoch, "train_loss": train_loss, "val_acc": val_acc, "val_loss": val_loss}
            metrics |= {"train_seconds": train_time, "images_per_second": images / max(train_time, 1e-9)}
            if cfg.curves:
                curves = metrics.setdefault("curves", {"val_acc": [], "test_acc": [], "train_seconds": []})
                curves["val_acc"].append(val_acc)
                tested = self.evaluate(self.data.test_x, self.data.test_y)
                curves["test_acc"].append(tested[0])
                curves["train_seconds"].append(train_time)
            if not math.isfinite(train_loss) or train_loss > DIVERGED_LOSS:
                status, metrics["error"] = Status.DIVERGED, f"training loss {train_loss} in epoch {epoch}"
                break
            if report is not None:
                clock.begin("report")
                report(dict(metrics))
            if timed_out:
                status, metrics["error"] = Status.TIMEOUT, f"stopped at the {cfg.max_seconds:g}s limit in epoch {epoch}"
                break
        if status == Status.OK:  # (ok: every epoch ran, so with curves the last epoch's test is the final weights')
            clock.begin("evaluate")
            metrics["test_acc"], metrics["test_loss"] = tested or self.evaluate(self.data.test_x, self.data.test_y)
        return status

    def _epoch(self, epoch: int, deadline: float) -> tuple[float, int, bool]:
        bs = self.batch_size
        self.net.train()
        total = torch.zeros((), device=self.device)
        steps = 0
        for step, (xb, idx) in enumerate(self._train_batches()):
            x = self._prepare(xb)
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self.amp):
                loss = self.loss_fn(self.net(x), self.train_y.index_select(0, idx))
            if epoch == 1 and step == 0 and self.fault:
                loss = _inject(self.fault, loss)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            total += loss.detach().float()
            steps += 1
            if steps == 1 and epoch == 1:
                self.clock.begin("train")  # (waits for the first step on CUDA: a trial's first of few waits)
            self.ticker.step(epoch, steps)
            if time.perf_counter() > deadline:
                return total.item() / steps, steps * bs, True
        return total.item() / steps, steps * bs, False

    def _train_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(uint8 images on the device, augmented; their positions on the device) of one epoch's steps.

        Resident: the whole set is augmented on the device at once, and batches are index gathers. Streamed
        (a mapped dataset, or one over the device's share): a seeded CPU order, batches gathered by a thread
        into pinned memory while the device works, copied without blocking, and augmented on the device."""
        cfg, bs, n = self.cfg, self.batch_size, self.steps_per_epoch * self.batch_size
        if self.resident:
            images = augment(self.train_x, self.data, self.gen) if cfg.augment else self.train_x
            order = torch.randperm(len(images), device=self.device, generator=self.gen)
            for step in range(self.steps_per_epoch):
                idx = order[step * bs : (step + 1) * bs]
                yield images.index_select(0, idx), idx
            return
        order = torch.randperm(len(self.train_x), generator=self.cpu_gen)[:n]
        pin = self.device.type == "cuda"
        for step, xb in enumerate(batches(self.train_x, order, bs, pin=pin)):
            xb = xb.to(self.device, non_blocking=True)
            idx = order[step * bs : (step + 1) * bs].to(self.device, non_blocking=True)
            yield (augment(xb, self.data, self.gen) if cfg.augment else xb), idx

    def _prepare(self, xb: torch.Tensor) -> torch.Tensor:
        return (xb.float() * self.scale + self.shift).contiguous(memory_format=self.fmt)

    @torch.no_grad()
    def evaluate(self, xs: torch.Tensor, ys: torch.Tensor) -> tuple[float, float]:
        """Accuracy and mean loss (no label smoothing) over a split, in batches of `eval_batches`' one size (a short
        last batch padded to it where new shapes cost: cuDNN autotuning, recompiling)."""
        if len(xs) == 0:
            return math.nan, math.nan
        self.net.eval()
        correct = torch.zeros((), device=self.device)
        loss = torch.zeros((), device=self.device)
        bs = self.eval_batch
        parts = batches(xs, torch.arange(len(xs)), bs, pin=self.device.type == "cuda") if mapped(xs) else None
        for i in range(0, len(xs), bs):
            xb = next(parts) if parts is not None else xs[i : i + bs]  # type: ignore[call-overload]
            x = self._prepare(xb.to(self.device, non_blocking=True))
            y = ys[i : i + bs].to(self.device, non_blocking=True)
            short = bs - len(x)
            if short and self.eval_padded:  # the padding's outputs are dropped; eval-mode layers see images alone
                x = torch.cat([x, x.new_zeros((short, *x.shape[1:]))]).contiguous(memory_format=self.fmt)
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self.amp):
                out = self.net(x)[: len(y)].float()
            loss += F.cross_entropy(out, y, reduction="sum")
            correct += (out.argmax(1) == y).sum()
        return correct.item() / len(xs), loss.item() / len(xs)

    def weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in self.model.state_dict().items()}


# ------------------------------------------------------------------ the pieces


class _Ticker:
    """Tells `notes` where training is, at most every `PROGRESS_EVERY` seconds (a check of the clock a step):
    seconds since training started, and images trained per second of them (the evaluations between epochs
    included, as in the time a trial's end is estimated from)."""

    def __init__(self, notes: Notes | None, epochs: int, steps: int, batch: int) -> None:
        self.notes, self.epochs, self.steps, self.batch = notes, epochs, steps, batch
        self.restart()

    def restart(self) -> None:
        """Training starts now (after the build, the latency measurement and the data's copy)."""
        self.started = self.last = time.perf_counter()

    def step(self, epoch: int, step: int) -> None:
        if self.notes is None:
            return
        now = time.perf_counter()
        if now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        seconds = now - self.started
        done = ((epoch - 1) * self.steps + step) * self.batch
        note = {"epoch": epoch, "epochs": self.epochs, "step": step, "steps": self.steps, "seconds": seconds}
        self.notes(note | {"images_per_second": done / seconds})


def _latency(
    model: nn.Module,
    data: DataSplits,
    cfg: TrainConfig,
    device: torch.device,
    metrics: dict[str, Any],
    clock: PhaseClock,
    amp: bool = False,
    fmt: torch.memory_format = torch.contiguous_format,
) -> str:
    """Measure the model's inference latency into `metrics` (`cfg.latency`); why it is over
    `cfg.max_latency_ms`, or "". Timed as the trial evaluates: same device, autocast and memory format."""
    if not cfg.latency:
        return ""
    clock.begin("latency")
    sample = (data.in_channels, *data.input_size)
    ms = nas_latency.measure(
        model, sample, device, dict.fromkeys((1, cfg.latency_batch)), repeats=cfg.latency_repeats, amp=amp,
        memory_format=fmt,
    )  # fmt: skip
    metrics |= {"latency_ms": ms[1], "latency_batch_ms": ms[cfg.latency_batch], "latency_batch": cfg.latency_batch}
    if cfg.max_latency_ms and ms[1] > cfg.max_latency_ms:
        return (
            f"latency {ms[1]:.3g} ms at batch 1 > --max-latency {cfg.max_latency_ms:g} ms "
            f"(measured on {device.type} before training)"
        )
    return ""


def uses_bf16(cfg: TrainConfig, device: torch.device, flops: int) -> bool:
    """Whether a trial trains in bf16 autocast: on CUDA when `cfg.bf16`; on a CPU with native bf16 (AVX512-BF16
    or AMX) for networks of at least `cfg.cpu_bf16_mflops` forward MFLOPs per image -- smaller ones are
    bound by per-op overhead, where bf16's casts cost more than its faster kernels save (BENCHMARKS.md, 1)."""
    if not cfg.bf16:
        return False
    if device.type == "cuda":
        return True
    return device.type == "cpu" and cpu_has_bf16() and flops >= cfg.cpu_bf16_mflops * 1e6


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX tiles)."""
    cpu = getattr(torch, "cpu", None)
    return bool(cpu and (cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported()))


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    other = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)


def _lr_lambda(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    """Multiplier of the peak rate at each step."""
    warm = max(1, int(cfg.warmup * total))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        frac = min(1.0, (step - warm) / max(1, total - warm))
        return 1.0 - frac if cfg.schedule == "onecycle" else 0.5 * (1.0 + math.cos(math.pi * frac))

    return factor


def _inject(fault: str, loss: torch.Tensor) -> torch.Tensor:
    if fault == "nan":
        return loss * float("nan")
    if fault == "oom":
        raise torch.OutOfMemoryError("CUDA out of memory (simulated by fault injection)")
    if fault == "raise":
        raise RuntimeError("injected failure")
    if fault == "hang":
        time.sleep(10**6)
    return loss


def _error_text(e: BaseException) -> str:
    where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    at = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(e).__name__}: {first_line(e)}{at}"
