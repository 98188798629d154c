"""The Python API: nas.search / nas.Search with your own data, ops and training function.

Real searches (local engine in-process; the Ray engine through the example script in a subprocess),
real files; each bad input is one clear error with nothing written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

import nas
from nas.config import ConfigError
from nas.data import DataError
from nas.errors import NasgraphError, SearchError
from nas.plugins import PluginError
from nas.record import results
from nas.record.jsonl import Record
from nas.report import plots
from nas.trial.train import TrainFnError, own_metrics
from searchspace.genotype import Genotype
from searchspace.opspec import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
QUICK = {
    "engine": "local",
    "trials": 2,
    "train": {"epochs": 1},
    "space": {"ops": ["conv", "maxpool"], "wirings": ["chain"]},
}


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x.reshape(-1, 8, 8).astype(np.float32)[:400], y[:400]


def one_pass(model, data) -> None:
    """One pass of Adam over the training split."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = (data.train_x - data.mean[0]) / data.std[0], data.train_y
    for idx in torch.randperm(len(x)).split(64):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


def quick_train(model, data, config, report):
    """One pass over the training split; accuracy on the validation split and a metric of its own."""
    one_pass(model, data)
    with torch.no_grad():
        acc = (model((data.val_x - data.mean[0]) / data.std[0]).argmax(1) == data.val_y).float().mean()
    report({"epochs": 1, "val_acc": acc.item()})
    return {"val_acc": acc, "acc_per_kparam": acc.item() * 1000 / sum(p.numel() for p in model.parameters())}


# ------------------------------------------------------------------ data


def test_own_arrays_become_splits_with_a_stratified_validation_split(arrays):
    x, y = arrays
    data = nas.dataset((x, y), test=(x[:50], y[:50]), val_fraction=0.25, seed=3)
    assert (len(data.train_x), len(data.val_x), len(data.test_x)) == (300, 100, 50)
    assert data.train_x.dtype == torch.float32 and data.train_x.shape[1:] == (1, 8, 8)  # (N, H, W) -> one channel
    assert data.num_classes == 10 and data.labelled
    assert abs(data.mean[0] - float(data.train_x.mean())) < 1e-4  # float images: stats of x itself, not x / 255
    counts = np.bincount(data.val_y.numpy(), minlength=10)
    assert counts.min() >= 8 and counts.max() <= 12  # stratified: each digit about a quarter of its images
    again = nas.dataset((x, y), test=(x[:50], y[:50]), val_fraction=0.25, seed=3)
    assert torch.equal(again.val_y, data.val_y)


def test_a_torch_dataset_of_pil_images_and_a_mapping_of_splits():
    from PIL import Image

    class Squares(torch.utils.data.Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            img = np.zeros((6, 6, 3), dtype=np.uint8)
            img[i % 6] = 255
            return Image.fromarray(img), i % 2

    data = nas.dataset({"train": Squares(), "val": Squares()}, num_classes=3)
    assert data.train_x.shape == (40, 3, 6, 6) and data.train_x.dtype == torch.uint8  # HWC -> CHW
    assert data.train_x[1, :, 1].min() == 255 and data.num_classes == 3 and len(data.val_x) == 40
    targets = nas.dataset((torch.zeros(10, 2, 4, 4), torch.rand(10, 3)), val_fraction=0.2)
    assert not targets.labelled and targets.num_classes == 3  # 2-D float targets: three outputs


@pytest.mark.parametrize(
    "data, kwargs, message",
    [
        ((np.zeros((10, 1, 8, 8)), np.zeros(9, dtype=int)), {}, "train x has 10 samples but train y has 9"),
        ((np.zeros((10, 8)), np.zeros(10, dtype=int)), {}, r"train x must be images \(N, C, H, W\) or \(N, H, W\)"),
        ((np.zeros((10, 8, 8), dtype=np.int32), np.zeros(10, dtype=int)), {}, "must be uint8 .* or floating point"),
        ((np.full((10, 8, 8), np.nan), np.zeros(10, dtype=int)), {}, "train x holds NaN"),
        ((np.zeros((10, 8, 8)), -np.ones(10, dtype=int)), {}, "negative label -1"),
        ((np.zeros((10, 8, 8)), np.arange(10)), {"num_classes": 5}, "label 9 is out of range for num_classes=5"),
        ((np.zeros((10, 8, 8)), np.array(["a"] * 10)), {}, "integer class labels or floating point targets"),
        ("digits.npz", {}, r"train must be an \(x, y\) pair"),
        ({"train": None, "extra": 1}, {}, "a mapping needs a 'train' entry"),
    ],
)
def test_bad_data_is_one_clear_error(data, kwargs, message):
    with pytest.raises(DataError, match=message):
        nas.dataset(data, **kwargs)


def test_the_builtin_trainer_refuses_non_label_targets_before_anything_is_written(tmp_path):
    x = np.zeros((40, 1, 8, 8), dtype=np.float32)
    with pytest.raises(DataError, match="built-in trainer needs integer class labels.*pass train_fn="):
        nas.Search(QUICK, data=(x, np.zeros((40, 2), dtype=np.float32)), results_dir=tmp_path)
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------ searches


def test_search_with_own_data_and_train_fn_optimises_its_metric(tmp_path, arrays):
    s = nas.Search(
        QUICK | {"trials": 3, "controller": "evolution", "population": 2, "sample": 1},
        objectives=["acc_per_kparam:max", "params"],
        data=arrays,
        train_fn=quick_train,
        results_dir=tmp_path,
        progress=False,
    )
    df = s.run()
    assert s.finished and len(df) == 3 and set(df["status"]) == {"ok"}
    assert df["acc_per_kparam"].notna().all() and df["val_acc"].between(0, 1).all()  # the record keeps every metric
    saved = json.loads((s.root / "config.json").read_text())
    assert saved["objectives"] == ["acc_per_kparam:max", "params"] and saved["dataset"] == "user:arrays"
    assert saved["train_fn"].endswith("test_api.quick_train")  # a resume must bring it again
    controller = json.loads((s.root / "state" / "controller.json").read_text())
    assert controller["objectives"] == {"acc_per_kparam": "max", "params": "min"}
    best = s.best()
    assert best["acc_per_kparam"] == df["acc_per_kparam"].max()  # "best" follows the search's first objective
    assert (s.root / "weights" / f"{best['trial_id']}.safetensors").exists()  # kept: its front


def loss_only_train(model, data, config, report):
    """A training function that reports only a loss to minimise: no val_acc in its record."""
    one_pass(model, data)
    with torch.no_grad():
        val_loss = F.cross_entropy(model((data.val_x - data.mean[0]) / data.std[0]), data.val_y).item()
    report({"epochs": 1, "val_loss": val_loss})
    return {"val_loss": val_loss}


def test_a_search_of_its_own_metrics_gets_its_report_and_plots(tmp_path, arrays):
    """Reports and plots follow the search's objectives (a metric of its own, minimised), as `show` does."""
    lines = []
    s = nas.Search(
        QUICK | {"trials": 4, "controller": "random"},
        objectives=["val_loss:min", "params"],
        data=arrays,
        train_fn=loss_only_train,
        results_dir=tmp_path,
        progress=lines.append,
    )
    df = s.run()
    assert set(df["status"]) == {"ok"} and df["val_acc"].isna().all() and df["val_loss"].notna().all()
    assert not [line for line in lines if "could not write" in line]
    page = (s.root / "report.html").read_text()
    best = df.loc[df["val_loss"].idxmin()]
    assert "best val_loss" in page and f"{best['val_loss']:.4g} ({best['trial_id']})" in page
    assert "Pareto front (val_loss min, params min)" in page and "val_loss vs parameters" in page
    written = plots.plot_results(s.root, tmp_path / "figures", formats=("svg",))
    names = {p.name for p in written}
    assert {"accuracy_vs_params.svg", "best_so_far.svg", f"architecture_{best['trial_id']}.svg"} <= names
    assert "lowest" in (tmp_path / "figures" / "best_so_far.svg").read_text()
    from nas.cli import main

    assert main(["export", str(s.root), "--trial", "best", "--out", str(tmp_path / "best")]) == 0  # best by val_loss
    exported = json.loads((tmp_path / "best" / "genotype.json").read_text())
    assert Genotype.from_dict(exported).fingerprint() == best["fingerprint"]


def test_resume_from_python_continues_and_refuses_what_would_change_the_trials(tmp_path, arrays):
    first = nas.Search(QUICK, data=arrays, train_fn=quick_train, results_dir=tmp_path, progress=False)
    first.run()
    with pytest.raises(ConfigError, match="trains with train_fn .*quick_train; pass it again"):
        nas.Search.resume(first.root, data=arrays)
    with pytest.raises(ConfigError, match="seed cannot change on resume"):
        nas.Search.resume(first.root, data=arrays, train_fn=quick_train, seed=4)
    with pytest.raises(SearchError, match="data differs from the data this search was made with"):
        nas.Search.resume(first.root, data=(arrays[0][:, :4, :4], arrays[1]), train_fn=quick_train).run()
    lines = []
    df = nas.search(resume=first.root, data=arrays, train_fn=quick_train, trials=4, progress=lines.append)
    assert len(df) == 4 and list(df["trial_id"]) == ["00001", "00002", "00003", "00004"]
    assert any(line.startswith("resume: trials 2 -> 4") for line in lines)
    assert json.loads((first.root / "config.json").read_text())["trials"] == 4


def test_stop_from_a_train_fn_ends_the_search_after_that_trial_and_resume_finishes_it(tmp_path, arrays):
    box = {}

    def stops_on_the_second(model, data, config, report):
        if len(box.setdefault("calls", [])) == 1:
            box["search"].stop()  # e.g. a callback that decides the budget is spent
        box["calls"].append(config.seed)
        return {"val_acc": 0.5}

    box["search"] = s = nas.Search(
        QUICK | {"trials": 5}, data=arrays, train_fn=stops_on_the_second, results_dir=tmp_path, progress=False
    )
    df = s.run()
    assert len(df) == 2 and not s.finished and s.outcome.dispatched == 2  # the stopping trial still finished
    df = s.run()  # run() again continues the same folder
    assert len(df) == 5 and s.finished


def test_failures_inside_train_fn_are_results_and_broken_contracts_stop_with_nothing_written(tmp_path, arrays):
    calls = []

    def flaky(model, data, config, report):
        calls.append(config.seed)
        if len(calls) == 1:
            raise ValueError("my loss exploded")
        return {"val_acc": 0.5}

    df = nas.search(QUICK, data=arrays, train_fn=flaky, results_dir=tmp_path, name="flaky", progress=False)
    assert list(df["status"]) == ["error", "ok"]
    assert df["error"].iloc[0].startswith("ValueError: my loss exploded (at test_api.py:")
    for returned, message in [
        (None, "train_fn returned NoneType None; a train_fn returns a dict of metric names to numbers"),
        ({}, "train_fn returned an empty mapping"),
        ({"val_acc": "high"}, r"train_fn returned val_acc='high' \(str\); metrics must be numbers"),
        ({"params": 3}, "the metric name 'params', which is a field the search records itself"),
    ]:

        def broken(model, data, config, report, returned=returned):
            return returned

        with pytest.raises(SearchError, match=message):
            nas.search(QUICK, data=arrays, train_fn=broken, results_dir=tmp_path, name="broken", progress=False)
        assert not (tmp_path / "broken").exists()  # no trial recorded: no folder
    with pytest.raises(ConfigError, match="must take four arguments"):
        nas.Search(QUICK, data=arrays, train_fn=lambda model, data: {}, results_dir=tmp_path)


class TrainerClock:
    """The trainer's clock (`nas.trial.train`'s ``time``) with a virtual ``perf_counter`` that moves only when a
    training function "sleeps" (and by a microsecond per reading): a time limit is then met or missed exactly,
    however loaded the machine. Everything else is the real ``time`` module."""

    def __init__(self) -> None:
        self.now = time.perf_counter()

    def perf_counter(self) -> float:
        self.now += 1e-6
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str):
        return getattr(time, name)


def test_a_train_fn_past_the_time_limit_ends_at_its_next_report(tmp_path, arrays, monkeypatch):
    import nas.trial.train

    clock = TrainerClock()
    monkeypatch.setattr(nas.trial.train, "time", clock)

    def slow(model, data, config, report):
        for epoch in range(1, 100):
            clock.sleep(1.0)  # an epoch of one (virtual) second
            report({"epochs": epoch, "val_acc": 0.1 * epoch})
        return {"val_acc": 1.0}

    cfg = QUICK | {"trials": 1, "trial_timeout": 1.5}
    df = nas.search(cfg, data=arrays, train_fn=slow, results_dir=tmp_path, progress=False)
    row = df.iloc[0]  # the report after 1 s was in time; the one after 2 s was not
    assert row["status"] == "timeout" and row["epochs"] == 2 and row["val_acc"] == pytest.approx(0.2)
    assert "stopped at the 1.5s limit" in row["error"]


def test_own_metrics_converts_numbers_and_refuses_the_rest():
    got = own_metrics({"a": np.float32(0.5), "b": torch.tensor(2), "c": float("nan"), "d": 3}, "x")
    assert got == {"a": 0.5, "b": 2, "c": None, "d": 3}
    for bad in ({"a": True}, {"a": [1]}, {"not valid": 1}, {"seed": 1}, [("a", 1)]):
        with pytest.raises(TrainFnError):
            own_metrics(bad, "x")


def test_bad_config_and_objectives_are_refused_before_anything_is_written(tmp_path, arrays):
    for options, message in [
        ({"objectives": ["speed"]}, "unknown objective 'speed'.*NAME:max or NAME:min"),
        ({"objectives": ["params:max"]}, "params is always minimized"),
        ({"objectives": ["f1:best"]}, "direction after ':' must be max or min"),
        ({"dataset": "cifar10"}, r"give data= or dataset='cifar10', not both"),
        ({"trials": 0}, "trials must be an integer >= 1"),
    ]:
        with pytest.raises(NasgraphError, match=message):
            nas.search(QUICK | options, data=arrays, results_dir=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------ ops of your own


class Shrinks(nn.Module):
    """Declares the same size, but its 3x3 convolution has no padding."""

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride)

    def forward(self, x):
        return self.conv(x)


def test_an_op_whose_forward_breaks_its_declared_shape_is_refused_before_the_search(tmp_path, arrays):
    nas.register_op("test_shrinks", category="conv")(Shrinks)
    try:
        space = {"ops": ["conv", "test_shrinks"], "wirings": ["chain"]}
        with pytest.raises(PluginError, match=r"op 'test_shrinks' gives \(16, 6, 6\) .* declares \(16, 8, 8\)"):
            nas.search(QUICK | {"space": space}, data=arrays, results_dir=tmp_path, progress=False)
        assert not any(tmp_path.iterdir())
    finally:
        REGISTRY.pop("test_shrinks")


def test_registering_an_op_again_is_a_redefinition_only_from_the_same_place():
    class Twice(nn.Identity):
        def __init__(self, in_ch, out_ch, stride=1):
            super().__init__()

    try:
        nas.register_op("test_twice", category="misc", width="same", strides=False)(Twice)
        nas.register_op("test_twice", category="misc", width="same", strides=False)(Twice)  # a cell run again
        with pytest.raises(ValueError, match="registered twice"):
            nas.register_op("test_twice", category="misc")(nn.Identity)
        with pytest.raises(ValueError, match="registered twice"):
            nas.register_op("conv", category="conv")(Twice)
    finally:
        REGISTRY.pop("test_twice")


# ------------------------------------------------------------------ end to end, the way a notebook runs it


@pytest.mark.parametrize("engine", ["local"])  # under Ray: test_readme.py runs the README's block through Ray
def test_the_readme_example_runs_end_to_end(tmp_path, engine):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "from_python.py"),
            "--engine",
            engine,
            "--trials",
            "4",
            "--out",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "the export, loaded alone, gives outputs of shape (256, 10)" in proc.stdout
    rows = Record.open(tmp_path / f"from-python-{engine}").rows()
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows), [r.get("error") for r in rows]
    assert all(0 <= r["val_macro_f1"] <= 1 for r in rows)
    with_op = [r for r in rows if "mixconv" in json.dumps(r["genotype"])]
    assert with_op, "the search sampled the example's own op"
    if engine == "ray":
        assert all(r.get("node") for r in rows)  # trained in Ray workers, which never imported the example
    best = results.pareto_front(results.load(tmp_path / f"from-python-{engine}"), {"val_macro_f1": "max"}).iloc[0]
    model_py = (tmp_path / f"exported-{engine}" / "model.py").read_text()
    assert ("class MixConv(nn.Module):" in model_py) == ("mixconv" in best["genotype"])
    assert "register_op" not in model_py and "import nas" not in model_py


def test_an_interrupted_search_stops_cleanly_and_resumes_from_python(tmp_path):
    """A notebook's interrupt is SIGINT to the kernel's main thread; the script plays the kernel."""
    script = tmp_path / "cell.py"
    script.write_text(
        "import sys, time, numpy as np, nas\n"
        "from sklearn.datasets import load_digits\n"
        "x, y = load_digits(return_X_y=True)\n"
        "def slow(model, data, config, report):\n"
        "    for epoch in range(1, 20):\n"
        "        time.sleep(0.05)\n"
        "        report({'epochs': epoch})\n"
        "    return {'val_acc': 0.5}\n"
        "cfg = {'engine': 'local', 'trials': 4, 'space': {'ops': ['conv'], 'wirings': ['chain']}}\n"
        "resume = len(sys.argv) > 1\n"
        "data = (x.reshape(-1, 8, 8)[:300], y[:300])\n"
        "df = (nas.search(resume=sys.argv[1], data=data, train_fn=slow) if resume else\n"
        "      nas.search(cfg, data=data, train_fn=slow, results_dir=sys.argv[0].rsplit('/', 1)[0], name='nb'))\n"
        "print('rows', len(df), flush=True)\n"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    record = tmp_path / "nb" / "trials.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (record.exists() and record.read_text().count("\n") >= 1):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]  # the cell returns the partial results, no traceback
    done = int(out.split("rows ")[1])
    assert 1 <= done < 4 and "Traceback" not in err
    assert "nas.Search.resume(" in err and "data=..., train_fn=...).run()" in err
    resumed = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "nb")], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "rows 4" in resumed.stdout
    rows = Record.open(tmp_path / "nb").rows()
    assert [r["trial_id"] for r in rows] == [f"{i:05d}" for i in range(1, 5)] and {r["status"] for r in rows} == {"ok"}


HELPER = """
MAGIC = 7


def gate(x):
    return x * 1.0


def score(acc):
    return acc * 0 + MAGIC
"""

SCRIPT = """
import importlib.util, os, sys
from pathlib import Path

import numpy as np, torch, torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

import nas
import my_helpers_for_test as helpers  # a module beside the script, imported by the user's op and train_fn

Path(helpers.__file__).unlink()  # gone from disk: a worker can only have it by value


@nas.register_op("helped_conv", category="conv")
class HelpedConv(nn.Module):
    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride, 1)

    def forward(self, x):
        return helpers.gate(self.conv(x))


def train_fn(model, data, config, report):
    x = (data.train_x - data.mean[0]) / data.std[0]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for idx in torch.randperm(len(x)).split(64):
        loss = F.cross_entropy(model(x[idx]), data.train_y[idx])
        opt.zero_grad(); loss.backward(); opt.step()
    report({"epochs": 1})
    return {"magic": helpers.score(0.5), "pid": os.getpid(),
            "importable": int(importlib.util.find_spec("my_helpers_for_test") is not None)}


x, y = load_digits(return_X_y=True)
df = nas.search({"engine": "ray", "trials": 2, "objectives": ["magic:max", "params"],
                 "space": {"ops": ["helped_conv", "maxpool"], "wirings": ["chain"]}},
                data=(x.reshape(-1, 8, 8)[:300].astype(np.float32), y[:300]), train_fn=train_fn,
                results_dir=sys.argv[1], name="helped", progress=False)
print("driver", os.getpid())
"""


def test_a_helper_module_beside_the_script_reaches_real_ray_workers_by_value(tmp_path):
    """Ray workers that never imported the user's helper module (deleted from disk before the search) run the
    user's op and train_fn that call it: `nas.plugins` registered it with cloudpickle to go by value."""
    (tmp_path / "my_helpers_for_test.py").write_text(HELPER)
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "script.py"), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / "my_helpers_for_test.py").exists()
    driver = int(proc.stdout.split("driver ")[1])
    rows = Record.open(tmp_path / "helped").rows()
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows), [r.get("error") for r in rows]
    assert all(r["magic"] == 7 and r["importable"] == 0 for r in rows)  # the helper ran, from no file
    assert all(r.get("node") and r["pid"] != driver for r in rows)  # in Ray worker processes


@pytest.mark.slow
def test_a_broken_train_fn_under_ray_stops_the_search_with_nothing_written(tmp_path, arrays):
    def broken(model, data, config, report):
        return {"val_acc": "high"}

    import ray

    assert not ray.is_initialized()  # the runtime this test starts is its own, and is shut down below
    try:
        with pytest.raises(SearchError, match=r"train_fn: train_fn returned val_acc='high' \(str\)"):
            nas.search(
                QUICK | {"engine": "ray", "trials": 3},
                data=arrays,
                train_fn=broken,
                results_dir=tmp_path,
                name="b",
                progress=False,
            )
    finally:
        ray.shutdown()
    assert not (tmp_path / "b").exists()


def test_an_op_without_source_is_refused_by_export_in_one_line_naming_it(tmp_path):
    from nas.exporter import ExportError
    from searchspace import zoo
    from searchspace.genotype import Genotype, Head
    from searchspace.registry import node

    scope: dict = {"nn": nn}
    exec(  # a class typed at an interactive prompt: no file holds its source
        "class Typed(nn.Module):\n"
        "    def __init__(self, in_ch, out_ch, stride=1):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride, 1)\n"
        "    def forward(self, x):\n"
        "        return self.conv(x)\n",
        {"nn": nn, "__name__": "typed_at_a_prompt"},
        scope,
    )
    nas.register_op("test_typed", category="conv")(scope["Typed"])
    try:
        g = Genotype(zoo.chain(8, [node("test_typed")]), (zoo.chain(8, [node("conv")]),), Head())
        with pytest.raises(
            ExportError, match=r"^op 'test_typed': the source of Typed cannot be found .* define the op in a \.py file"
        ):
            nas.export(g, None, tmp_path / "out", in_channels=1, num_classes=10, input_size=8)
        assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())  # nothing half-written
    finally:
        REGISTRY.pop("test_typed")
