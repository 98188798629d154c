"""Tabular benchmarks: made by grid searches, assembled by nas.benchmarks.table, answered by --engine table:PATH.

The tiny table here is made the way the committed one is (two grid searches, one per training seed,
real training on digits), only smaller; searches on it run through the CLI in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nas
from nas.benchmarks import table
from nas.controllers import Grid, SpaceExhausted
from nas.record.jsonl import Record

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "controller": "grid",
    "engine": "local",
    "limit": 300,
    "val_fraction": 0.3,
    "keep_weights": "none",
    "trials": 1000,
    "train": {"epochs": 2, "curves": True},
    "space": {
        "ops": ["conv", "maxpool", "identity"],
        "wirings": ["free"],
        "cell": True,
        "closed": True,
        "stages": [2, 2],
        "nodes": [1, 2],
        "widths": [8],
        "head_hidden": [0],
        "head_dropout": [0.0],
        "param_search": [["conv", "kernel", [3]]],
    },
}


def launch(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """Two grid searches (training seeds 0 and 1) over a 17-architecture space, and the table made of them."""
    root = tmp_path_factory.mktemp("tiny")
    for seed in (0, 1):
        nas.search(TINY, seed=seed, name=f"s{seed}", results_dir=root, progress=False)
    table.build([root / "s0", root / "s1"], root / "t.parquet")
    return root


def test_grid_runs_train_every_architecture_once_and_the_table_holds_both_seeds(tiny):
    rows = Record.open(tiny / "s0").rows()
    assert [r["status"] for r in rows] == ["ok"] * 17  # the space's 17 architectures, then the grid ended
    assert len({r["fingerprint"] for r in rows}) == 17
    assert all(len(r["curves"]["val_acc"]) == 2 and len(r["curves"]["test_acc"]) == 2 for r in rows)
    t = table.load(tiny / "t.parquet")
    assert len(t) == 17
    df = t.dataframe()
    assert (df["seeds"].map(len) == 2).all() and (df["val_acc"].map(len) == 2).all()
    by_fp = {r["fingerprint"]: r for r in rows}
    for e in t.entries:  # the table's seed-0 numbers are the grid run's, exactly
        i = e.seeds.index(by_fp[e.fingerprint]["seed"])
        assert e.val_acc[i] == pytest.approx(by_fp[e.fingerprint]["curves"]["val_acc"], abs=1e-6)
    assert t.meta["space"] == TINY["space"] and t.meta["dataset"] == "digits" and t.meta["val_fraction"] == 0.3


def test_a_run_that_failed_is_kept_in_the_table_as_failed(tiny, tmp_path):
    import shutil

    run = tmp_path / "r"
    run.mkdir()
    for name in ("config.json", "data.json"):
        shutil.copy(tiny / "s0" / name, run)
    rows = Record.open(tiny / "s0").rows()[:3]
    rows[1] = {k: v for k, v in rows[1].items() if k not in ("crc", "curves")} | {
        "status": "diverged",
        "params": None,
        "flops": None,
        "val_acc": None,
        "test_acc": None,
    }
    with Record.open(run) as record:
        for row in rows:
            record.append(row)
    entries, _ = table.collect([run])
    failed = next(e for e in entries if e.fingerprint == rows[1]["fingerprint"])
    assert failed.statuses == ["diverged"] and failed.params == 0 and failed.final("val_acc") == []
    assert sorted(e.statuses[0] for e in entries) == ["diverged", "ok", "ok"]


def test_a_grid_resumes_where_it_stopped_and_ends_when_the_space_is_exhausted(tiny):
    from nas.config import SearchConfig, make_space
    from nas.record.folder import DataInfo

    cfg = SearchConfig.from_dict(TINY)
    space = make_space(cfg, DataInfo(1, 10, (8, 8), "digits"))
    full = Grid(space)
    everything = [full.ask().genotype.fingerprint() for _ in range(17)]
    with pytest.raises(SpaceExhausted, match="all 17"):
        full.ask()
    half = Grid(space)
    first = [half.ask().genotype.fingerprint() for _ in range(6)]
    again = Grid(space)
    again.load_state_dict(json.loads(json.dumps(half.state_dict())))
    rest = [again.ask().genotype.fingerprint() for _ in range(11)]
    assert first + rest == everything


def test_a_resumed_grid_proposes_again_what_was_outstanding_when_it_stopped(tiny):
    from nas.config import SearchConfig, make_space
    from nas.record.folder import DataInfo

    space = make_space(SearchConfig.from_dict(TINY), DataInfo(1, 10, (8, 8), "digits"))
    grid = Grid(space)
    asked = [grid.ask() for _ in range(5)]
    for p in (asked[0], asked[1], asked[3]):  # 3 and 5 are still running when the search is killed
        grid.tell(p.trial_id, "ok", {"val_acc": 0.5})
    resumed = Grid(space)
    resumed.load_state_dict(json.loads(json.dumps(grid.state_dict())))
    resumed.drop_pending()
    rest = []
    while True:
        try:
            rest.append(resumed.ask().genotype.fingerprint())
        except SpaceExhausted:
            break
    told = {asked[i].genotype.fingerprint() for i in (0, 1, 3)}
    assert asked[2].genotype.fingerprint() in rest and asked[4].genotype.fingerprint() in rest
    assert len(rest) == 14 and not told & set(rest)  # every architecture once in all


def test_a_search_on_the_table_engine_answers_from_the_table_and_resumes(tiny, tmp_path):
    path = tiny / "t.parquet"
    done = launch("search", "--engine", f"table:{path}", "--controller", "evolution", "--trials", "12",
                  "--results-dir", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "table engine: 17 architectures" in done.stderr
    folder = tmp_path / "digits-evolution"
    saved = json.loads((folder / "config.json").read_text())
    assert saved["space"] == TINY["space"] and saved["val_fraction"] == 0.3  # the table's, not the defaults
    t = table.load(path)
    rows = Record.open(folder).rows()
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 12
    for r in ok:  # each answer is one training seed's numbers of that architecture
        e = next(e for e in t.entries if e.fingerprint == r["fingerprint"])
        i = e.seeds.index(r["table_seed"])
        assert (r["val_acc"], r["test_acc"], r["params"]) == (
            pytest.approx(e.val_acc[i][-1]),
            pytest.approx(e.test_acc[i][-1]),
            e.params,
        )
    resumed = launch("search", "--resume", str(folder), "--trials", "15")
    assert resumed.returncode == 0, resumed.stderr
    after = Record.open(folder).rows()
    assert after[: len(rows)] == rows and len([r for r in after if r["status"] == "ok"]) == 15


def test_a_proposal_outside_the_table_stops_the_search_in_one_line_and_leaves_nothing(tiny, tmp_path):
    part = tmp_path / "part.parquet"  # a table of 5 of the 17 architectures
    entries, cfg = table.collect([tiny / "s0"])
    table.write(entries[:5], {"dataset": "digits", "val_fraction": 0.3, "limit": 300, "space": cfg["space"],
                              "train": cfg["train"]}, part)  # fmt: skip
    done = launch(
        "search",
        "--engine",
        f"table:{part}",
        "--controller",
        "random",
        "--trials",
        "30",
        "--results-dir",
        str(tmp_path / "r"),
    )
    assert done.returncode != 0
    err = done.stderr.strip().splitlines()
    assert len(err) <= 4 and err[-1].startswith("error: trial ") and "is not in the table" in err[-1]
    rows = Record.open(tmp_path / "r" / "digits-random").rows() if (tmp_path / "r" / "digits-random").exists() else []
    assert all(r["status"] == "ok" for r in rows)  # what was answered before is kept; nothing half-written


@pytest.mark.parametrize(
    "engine, options, message",
    [
        ("table:{missing}", [], "no such file"),
        ("table:{notable}", [], "not a nasgraph table"),
        ("table:{table}", ["--dataset", "synthetic"], "dataset is 'synthetic' but the table"),
        ("tabel:{table}", [], "expected ray, local, table:PATH or nb201:DATASET"),
    ],
)
def test_bad_table_engines_are_refused_in_one_line_with_nothing_written(
    tiny, tmp_path, engine, options, message, capsys
):
    import pandas as pd

    from nas.cli import main

    notable = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(notable)
    spec = engine.format(missing=tmp_path / "none.parquet", notable=notable, table=tiny / "t.parquet")
    assert main(["search", "--engine", spec, "--trials", "3", "--results-dir", str(tmp_path / "out"), *options]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) <= 2, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_committed_table_answers_a_short_search_end_to_end(tmp_path):
    path = ROOT / "bench" / "table" / "digits-cell.parquet"
    if not path.exists():
        pytest.skip("the digits-cell table is still being generated")
    done = launch("search", "--engine", f"table:{path}", "--controller", "local_search", "--trials", "60",
                  "--results-dir", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = Record.open(tmp_path / "digits-local_search").rows()
    assert len([r for r in rows if r["status"] == "ok"]) == 60
    assert (tmp_path / "digits-local_search" / "report.html").exists()
