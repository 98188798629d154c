"""Controller overhead: milliseconds per proposal at 100, 1,000 and 10,000 observed trials.

    python bench/bench_controller.py           # full: 4 controllers x 3 history sizes, with a profile
    python bench/bench_controller.py --quick   # smoke test, under a minute

Two paths are timed for random search, regularized evolution, TPE and NSGA-II:

- bare: the controller alone, ``ask`` + ``tell`` with synthetic metrics;
- driver: what a search really pays per proposal, ``SearchState.propose`` + ``complete`` with a
  synthetic trial result: dedupe (fingerprint), the constraint check (with ``max_params`` set,
  a meta-device build to count parameters; without, a shape validation), the fsync'd record
  line, the atomic controller-state save, the progress line and the weights pruning check
  (default ``keep_weights="front"``, an empty weights folder). Also without ``max_params``.

The history is put in place without proposing it one by one (TPE would take hours to reach
10,000): real sampled genotypes of the digits search space with made-up metrics
(`_synthetic.history`). The bare controllers are told it (random and evolution: ``tell`` with
the genotype, as a resumed search replays its record; Optuna: ``study.add_trials``). The driver
gets a results folder with that record (and, for Optuna, the study journal), resumed as
``launch.py search --resume`` would. Then K proposals are timed one by one, each added to the
history. The baseline in the same run is each controller's own cost at 100 trials: the
"x100" column is ms at N / ms at 100, which is 1.0 for a flat controller.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import RESULTS, machine, quiet_machine_note, table, write_results
from _synthetic import Trial, history, optuna_trials, write_record

from nas.config import SearchConfig, make_space
from nas.controllers import make_controller
from nas.driver.coordinator import DataInfo, SearchState

CONTROLLERS = ("random", "evolution", "tpe", "nsga2")
INFO = DataInfo(1, 10, (8, 8), "digits")  # the default search's dataset
MAX_PARAMS = 150_000  # rejects about a quarter of the digits space's samples
POPULATION = 8  # the CLI default (evolution and NSGA-II)


def objectives(controller: str) -> dict[str, str]:
    """The search's default objectives for a controller (tpe and random: val_acc; others: + params)."""
    return SearchConfig(controller=controller).objective_senses()


def synthetic_metrics(rng: random.Random, params: int | None) -> dict:
    """A plausible trial result."""
    return {
        "val_acc": 0.7 + 0.29 * rng.random(),
        "params": params if params is not None else rng.randint(2_000, 400_000),
        "flops": rng.randint(10**5, 10**7),
        "train_seconds": 1.0,
        "wall_seconds": 1.2,
        "epochs": 1,
    }


def timed(step: Callable[[], None], k: int, budget_s: float) -> list[float]:
    """Milliseconds of each of up to k calls, stopping once budget_s is spent (at least one call)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < k and (not times or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        step()
        times.append(1e3 * (time.perf_counter() - t0))
    return times


# ------------------------------------------------------------------ bare controller


def bare_controller(name: str, past: list[Trial]):
    """A controller that has observed `past` (fast fill: tell / add_trials, no proposals)."""
    space = make_space(SearchConfig(controller=name), INFO)
    options = {"population": POPULATION} if name in ("evolution", "nsga2") else {}
    if name == "evolution":
        options["sample"] = 3
    ctrl = make_controller(name, space, 0, objectives(name), **options)
    if name in ("tpe", "nsga2"):
        ctrl.study.add_trials(optuna_trials(past, list(ctrl.objectives), _generation_key(name), POPULATION))
        _warm_parents(ctrl.study, len(past))
    else:
        for i, t in enumerate(past):
            metrics = {"val_acc": t.val_acc, "params": t.n_params}
            ctrl.tell(f"{i + 1:05d}", "ok", metrics, t.genotype)
    ctrl.asked = len(past)
    return ctrl


def _generation_key(name: str) -> str | None:
    """NSGA-II keeps each trial's generation in a system attribute; added trials need it too."""
    if name != "nsga2":
        return None
    import optuna

    return optuna.samplers.NSGAIISampler._get_generation_key()


def _warm_parents(study, n: int) -> None:
    """NSGA-II: compute and cache each generation's parents in order, as a real run does one generation at a time.

    Without this the first ask after `add_trials` recurses through every generation at once
    (Optuna's ``select_parent`` -> ``get_parent_population`` of the generation before).
    """
    sampler = study.sampler
    if not hasattr(sampler, "get_parent_population"):
        return
    for generation in range(1, n // POPULATION + 1):
        sampler.get_parent_population(study, generation)


def bench_bare(name: str, past: list[Trial], k: int, budget_s: float) -> list[float]:
    """ms per ask + tell at len(past) observed trials."""
    ctrl = bare_controller(name, past)
    rng = random.Random(1)

    def step() -> None:
        p = ctrl.ask()
        ctrl.tell(p.trial_id, "ok", synthetic_metrics(rng, None))

    return timed(step, k, budget_s)


# ------------------------------------------------------------------ the driver (SearchState)


def driver_state(name: str, template: Path, n: int, past: list[Trial], root: Path, max_params: int | None):
    """A resumed SearchState over a results folder holding the n-trial record (and Optuna journal)."""
    cfg = SearchConfig(
        name=f"bench-{name}",
        controller=name,
        trials=n + 10**6,
        engine="local",
        max_params=max_params,
        population=POPULATION,
    )
    SearchState(cfg, root, INFO, log=_silent).close(final=False)  # config.json (and the empty study)
    (root / "state" / "controller.json").unlink(missing_ok=True)  # resume replays the record
    (root / "weights").mkdir()  # as in a real search, so keeping the front's weights is checked every trial
    shutil.copy(template, root / "trials.jsonl")
    if name in ("tpe", "nsga2"):
        _fill_journal(root / "optuna.journal", cfg, past)
    return SearchState(cfg, root, INFO, resume=True, log=_silent)


def _fill_journal(path: Path, cfg: SearchConfig, past: list[Trial]) -> None:
    """Add the history to the study journal the controller will open (NSGA-II: parents cached too)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    sampler = optuna.samplers.NSGAIISampler(population_size=POPULATION) if cfg.controller == "nsga2" else None
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.load_study(study_name=cfg.name, storage=storage, sampler=sampler)
    study.add_trials(optuna_trials(past, list(cfg.objective_senses()), _generation_key(cfg.controller), POPULATION))
    _warm_parents(study, len(past))


def _silent(line: str) -> None:
    return None


def driver_step(state: SearchState, rng: random.Random) -> Callable[[], None]:
    """One proposal through the driver: propose (dedupe, constraints) + complete (record, tell, save)."""

    def step() -> None:
        pending = state.propose()
        state.complete(pending.trial_id, "ok", synthetic_metrics(rng, pending.params))

    return step


def bench_driver(name: str, template: Path, past: list[Trial], k: int, budget_s: float, max_params: int | None):
    """ms per propose + complete at len(past) recorded trials."""
    with tempfile.TemporaryDirectory(prefix="nasgraph-bench-") as tmp:
        state = driver_state(name, template, len(past), past, Path(tmp) / "s", max_params)
        try:
            return timed(driver_step(state, random.Random(1)), k, budget_s)
        finally:
            state.close(final=False)


def profile_driver(name: str, template: Path, past: list[Trial], k: int, budget_s: float) -> str:
    """cProfile of the driver path (max_params set) at len(past) trials: top entries by own time."""
    with tempfile.TemporaryDirectory(prefix="nasgraph-bench-") as tmp:
        state = driver_state(name, template, len(past), past, Path(tmp) / "s", MAX_PARAMS)
        step = driver_step(state, random.Random(2))
        step()  # warm-up: the first meta-device build imports and caches things once per process
        prof = cProfile.Profile()
        prof.enable()
        calls = len(timed(step, k, budget_s))
        prof.disable()
        state.close(final=False)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    out.write(f"{name}: driver path at {len(past)} trials, {calls} proposals, max_params={MAX_PARAMS}\n")
    stats.sort_stats("tottime").print_stats(12)
    stats.sort_stats("cumulative").print_stats(18)
    return out.getvalue()


# ------------------------------------------------------------------ the run


def run(sizes: list[int], controllers: list[str], k: int, budget_s: float, profile_at: int | None) -> dict:
    """Every cell of the benchmark, plus profiles at the largest size."""
    space = make_space(SearchConfig(), INFO)
    t0 = time.perf_counter()
    everything = history(space, max(sizes), seed=0)
    print(f"  sampled {len(everything)} genotypes in {time.perf_counter() - t0:.1f}s", flush=True)
    cells, profiles = [], {}
    with tempfile.TemporaryDirectory(prefix="nasgraph-bench-") as tmp:
        for n in sizes:
            past = everything[:n]
            template = write_record(Path(tmp) / f"record-{n}", past, "synthetic")
            for name in controllers:
                t1 = time.perf_counter()
                cell = {"controller": name, "trials": n}
                cell["bare_ms"] = bench_bare(name, past, k, budget_s)
                cell["driver_ms"] = bench_driver(name, template, past, k, budget_s, MAX_PARAMS)
                cell["driver_noconstraint_ms"] = bench_driver(name, template, past, k, budget_s, None)
                cells.append(cell)
                print(f"  {name} at {n}: {_summary(cell)} ({time.perf_counter() - t1:.0f}s)", flush=True)
                if n == profile_at:
                    profiles[name] = profile_driver(name, template, past, k, budget_s)
    return {"cells": cells, "profiles": profiles}


def _summary(cell: dict) -> str:
    parts = (f"{key.removesuffix('_ms')} {statistics.median(cell[key]):.2f} ms" for key in _KEYS)
    return ", ".join(parts)


_KEYS = ("bare_ms", "driver_ms", "driver_noconstraint_ms")


def report(cells: list[dict]) -> str:
    """Median ms per proposal per path, and the ratio against the same controller at 100 trials."""
    base = {c["controller"]: c for c in cells if c["trials"] == min(x["trials"] for x in cells)}
    rows = []
    for c in cells:
        line = [c["controller"], f"{c['trials']:,}"]
        for key in _KEYS:
            ms = statistics.median(c[key])
            line += [ms, f"{ms / statistics.median(base[c['controller']][key]):.2f}"]
        line.append(min(len(c[key]) for key in _KEYS))
        rows.append(line)
    headers = ["controller", "observed", "bare ms", "x100", "driver ms", "x100", "no-constraint ms", "x100", "n"]
    return table(headers, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 and 1,000 trials, few proposals (< 1 minute)")
    ap.add_argument("--sizes", default="", help="history sizes, e.g. 100,1000,10000")
    ap.add_argument("--controllers", default=",".join(CONTROLLERS))
    ap.add_argument("--proposals", type=int, default=0, help="proposals timed per cell (default 5 quick, 50 full)")
    ap.add_argument("--budget", type=float, default=0, help="seconds per cell and path (default 3 quick, 25 full)")
    ap.add_argument("--name", default="", help="results file name (default bench_controller[_quick])")
    args = ap.parse_args()
    sizes = (
        [int(s) for s in args.sizes.split(",")] if args.sizes else ([100, 1000] if args.quick else [100, 1000, 10000])
    )
    k = args.proposals or (5 if args.quick else 50)
    budget = args.budget or (3.0 if args.quick else 25.0)
    note = quiet_machine_note()
    if note:
        print(note)
    out = run(sizes, args.controllers.split(","), k, budget, None if args.quick else max(sizes))
    text = report(out["cells"])
    print(f"\nms per proposal (median of n), driver with max_params={MAX_PARAMS:,}\n{text}")
    name = args.name or "bench_controller" + ("_quick" if args.quick else "")
    if out["profiles"]:
        prof_path = RESULTS / f"{name}_profile.txt"
        prof_path.parent.mkdir(parents=True, exist_ok=True)
        prof_path.write_text("\n\n".join(out["profiles"].values()))
        print(f"profiles: {prof_path}")
    payload = {"machine": machine(), "max_params": MAX_PARAMS, "proposals": k, "budget_s": budget} | out
    print(f"results: {write_results(name, payload | {'table': text})}")


if __name__ == "__main__":
    main()
