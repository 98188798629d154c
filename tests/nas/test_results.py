"""Tests for nas.record.results: loading records into pandas, the parquet copy, fronts, hypervolume and best."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pareto import brute_mask, objective_sets
from test_record import trial, write_record

from nas.record import results
from nas.record.jsonl import Record, RecordError
from nas.record.results import COLUMNS, best, hypervolume, load, pareto_front

ROOT = Path(__file__).resolve().parents[2]


def test_hypervolume_of_dataframe_uses_ok_rows() -> None:
    df = pd.DataFrame(
        {
            "status": pd.array(["ok", "error", "ok"], dtype="str"),
            "val_acc": [0.5, 0.99, 0.8],
            "params": pd.array([100, 1, 500], dtype="Int64"),
        }
    )
    # Boxes [0,0.5]x[100,1000] (450) and [0,0.8]x[500,1000] (400), overlapping in 0.5x500 (250).
    assert hypervolume(df, [0.0, 1000.0]) == pytest.approx(600.0)
    assert hypervolume(df, [0.0, 1000.0], include_failed=True) > 600.0
    with pytest.raises(ValueError, match="one number per objective"):
        hypervolume(df, [0.0])
    with pytest.raises(ValueError, match="not maximize"):
        hypervolume(df, [0.0, 1000.0], maximize=[True, False])


# ----------------------------------------------------------------------------- loading


def expected_dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


def mixed_rows() -> list[dict[str, object]]:
    """Rows exercising every conversion: JSON text vs objects, missing values, failures, extras."""
    return [
        trial(0, note="first", lr=0.1, widths=[16, 32], flag=True, count=3),
        trial(1, genotype=json.dumps({"stages": [], "width": 8}, indent=2), parents='["t0000"]', lr=1),
        trial(2, status="oom", error="CUDA out of memory", val_acc=None, val_loss=None, flag=False),
        {"trial_id": "t0003", "status": "diverged", "genotype": {"width": 4}, "val_loss": None, "mixed": 1},
        trial(4, params=2000.0, mixed="two", test_acc=0.7, train_seconds=3, peak_memory_mb=512.5),
    ]


def test_load_gives_documented_columns_and_dtypes(tmp_path: Path) -> None:
    write_record(tmp_path / "evo", mixed_rows())
    df = load(tmp_path / "evo")
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert list(df.columns[len(COLUMNS) :]) == ["count", "flag", "lr", "note", "widths", "mixed"]
    assert {k: v for k, v in expected_dtypes(df).items() if k in COLUMNS} == COLUMNS
    extras = {k: v for k, v in expected_dtypes(df).items() if k not in COLUMNS}
    assert extras == {
        "note": "str",
        "lr": "float64",
        "widths": "str",
        "flag": "boolean",
        "count": "Int64",
        "mixed": "str",
    }
    assert df["search"].tolist() == ["evo"] * 5
    assert df["trial"].tolist() == [0, 1, 2, 3, 4]
    assert df.loc[1, "genotype"] == '{"stages":[],"width":8}'
    assert df.loc[0, "genotype"] == json.dumps(trial(0)["genotype"], separators=(",", ":"), sort_keys=True)
    assert df.loc[0, "parents"] == "[]" and df.loc[1, "parents"] == '["t0000"]'
    assert pd.isna(df.loc[3, "parents"]) and pd.isna(df.loc[3, "params"]) and pd.isna(df.loc[2, "val_acc"])
    assert df.loc[4, "params"] == 2000
    assert df.loc[0, "finished"] == pd.Timestamp(1_700_000_000.25, unit="s", tz="UTC")
    assert df.loc[0, "widths"] == "[16,32]" and df.loc[4, "mixed"] == "two" and df.loc[3, "mixed"] == "1"
    assert df["status"].tolist() == ["ok", "ok", "oom", "diverged", "ok"]


def test_load_rejects_badly_typed_values(tmp_path: Path) -> None:
    write_record(tmp_path, [trial(0), trial(1, params=12.5)])
    with pytest.raises(RecordError, match=r"column 'params': trial 1: expected an integer"):
        load(tmp_path)


def test_parquet_is_atomic_and_loads_identically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "evo"
    with Record.open(folder) as record:
        for row in mixed_rows():
            record.append(row)
        written = results.write_parquet(record)
    assert written == folder / "trials.parquet"
    assert sorted(p.name for p in folder.iterdir()) == ["trials.jsonl", "trials.parquet"]  # no temp left

    reads: list[Path] = []
    real = results._read_parquet
    monkeypatch.setattr(results, "_read_parquet", lambda p: reads.append(p) or real(p))
    from_parquet = load(folder)
    assert reads == [written]
    written.unlink()
    from_jsonl = load(folder)
    assert reads == [written]
    pd.testing.assert_frame_equal(from_parquet, from_jsonl, check_dtype=True, check_exact=True)
    assert expected_dtypes(from_parquet) == expected_dtypes(from_jsonl)


def test_stale_or_broken_parquet_is_ignored(tmp_path: Path) -> None:
    with Record.open(tmp_path) as record:
        record.append(trial(0))
        results.write_parquet(record)
        record.append(trial(1))  # the copy is now a row behind
    assert load(tmp_path)["trial_id"].tolist() == ["t0000", "t0001"]
    parquet = tmp_path / "trials.parquet"
    with Record.open(tmp_path) as record:
        results.write_parquet(record)
    jsonl = tmp_path / "trials.jsonl"
    edited = jsonl.read_bytes().replace(b'"t0001"', b'"t0009"')
    jsonl.write_bytes(edited.replace(b'"crc"', b'"was_crc"'))  # edited by hand: same rows, newer file
    stamp = parquet.stat().st_mtime_ns
    os.utime(jsonl, ns=(stamp + 10**9, stamp + 10**9))
    assert load(tmp_path)["trial_id"].tolist() == ["t0000", "t0009"]
    parquet.write_bytes(b"not parquet at all")
    os.utime(parquet, ns=(stamp + 2 * 10**9, stamp + 2 * 10**9))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert len(load(tmp_path)) == 2


def test_load_several_searches(tmp_path: Path) -> None:
    write_record(tmp_path / "a", [trial(0), trial(1)])
    write_record(tmp_path / "b", [trial(0, extra_b=1)])
    (tmp_path / "b" / "config.json").write_text(json.dumps({"name": "cifar-random"}))
    df = load([tmp_path / "a", str(tmp_path / "b" / "trials.jsonl")])
    assert df["search"].tolist() == ["a", "a", "cifar-random"]
    assert df["trial"].tolist() == [0, 1, 0]
    assert list(df.index) == [0, 1, 2]
    assert {k: v for k, v in expected_dtypes(df).items() if k in COLUMNS} == COLUMNS
    assert df["extra_b"].isna().tolist() == [True, True, False]


def test_load_empty_record(tmp_path: Path) -> None:
    Record.open(tmp_path / "empty").close()
    for df in (load(tmp_path / "empty"), load([])):
        assert len(df) == 0
        assert expected_dtypes(df) == COLUMNS
    with pytest.raises(FileNotFoundError, match="no trials.jsonl"):
        load(tmp_path / "missing")


# ----------------------------------------------------------------------------- front and best


def trials_frame() -> pd.DataFrame:
    rows = [
        trial(0, val_acc=0.90, params=5000),
        trial(1, val_acc=0.80, params=1000),
        trial(2, val_acc=0.85, params=6000),  # dominated by trial 0
        trial(3, val_acc=0.99, params=100, status="error"),  # would dominate all, but failed
        trial(4, val_acc=0.95, params=9000),
        trial(5, val_acc=0.95, params=8000, flops=1),  # same accuracy, fewer params than trial 4
        trial(6, val_acc=None, params=10),
    ]
    return results._with_search(results._frame(rows, "test"), "s")


def test_pareto_front_of_trials() -> None:
    df = trials_frame()
    front = pareto_front(df)
    assert front["trial"].tolist() == [5, 0, 1]  # best val_acc first
    assert 3 in pareto_front(df, include_failed=True)["trial"].tolist()
    three = pareto_front(df, {"val_acc": "max", "params": "min", "flops": "min"})
    assert sorted(three["trial"].tolist()) == [0, 1, 5]
    assert pareto_front(df, {"params": "min"})["trial"].tolist() == [6]


@settings(max_examples=100, deadline=None)
@given(objective_sets(min_d=2, max_d=4), st.data())
def test_pareto_front_matches_brute_force(case: tuple[np.ndarray, list[bool]], data: st.DataObject) -> None:
    values, maximize = case
    names = [f"o{j}" for j in range(values.shape[1])]
    status = data.draw(st.lists(st.sampled_from(["ok", "ok", "error"]), min_size=len(values), max_size=len(values)))
    df = pd.DataFrame(values, columns=names).assign(status=pd.array(status, dtype="str"))
    front = pareto_front(df, {n: "max" if m else "min" for n, m in zip(names, maximize, strict=True)})
    ok = np.array([s == "ok" for s in status], dtype=bool)
    expected = np.flatnonzero(ok)[brute_mask(values[ok], maximize)]
    assert sorted(front.index) == expected.tolist()
    first = front[names[0]].to_numpy()
    assert (np.diff(first) <= 0).all() if maximize[0] else (np.diff(first) >= 0).all()


def test_pareto_front_rejects_bad_objectives() -> None:
    df = trials_frame()
    with pytest.raises(ValueError, match="'val_acc': 'maximize' is not 'max' or 'min'"):
        pareto_front(df, {"val_acc": "maximize"})
    with pytest.raises(ValueError, match="objective 'accuracy' is not a column"):
        pareto_front(df, {"accuracy": "max"})
    with pytest.raises(ValueError, match="'status' is not numeric"):
        pareto_front(df, {"status": "max"})
    with pytest.raises(ValueError, match="non-empty"):
        pareto_front(df, {})


def test_best_with_and_without_budgets() -> None:
    df = trials_frame()
    assert best(df)["trial"] == 5  # ties with trial 4 on accuracy, fewer params
    assert best(df, max_params=5000)["trial"] == 0
    assert best(df, max_params=2000)["trial"] == 1
    assert best(df, max_flops=5000)["trial"] == 5
    assert best(df, max_params=10**9, max_flops=10**9)["trial"] == 5
    assert best(df, metric="val_loss", mode="min")["trial"] == 6  # lowest loss; its val_acc is unknown
    with pytest.raises(ValueError, match=r"no trial qualifies: 7 trials, 6 ok, none with a val_acc and params <= 10"):
        best(df, max_params=10)
    with pytest.raises(ValueError, match="no column 'nope'"):
        best(df, metric="nope")


def test_best_for_a_searchs_objectives_counts_only_complete_rows_and_breaks_ties_on_them() -> None:
    """`export --trial best` and `Search.best`: by the score among rows with every objective finite; on a tie, the
    next objective decides (so the pick is on the front whose weights are kept), not the parameter count."""
    df = pd.DataFrame({
        "trial_id": ["a", "b", "c", "d", "e"],
        "status": ["ok", "ok", "ok", "ok", "error"],
        "f1": [0.9, 0.9, 0.95, 0.8, 0.99],
        "latency_ms": [2.0, 1.0, np.nan, 0.5, 0.1],  # c has no latency: it does not count
        "params": [10, 500, 1, 1, 1],
    })  # fmt: skip
    senses = {"f1": "max", "latency_ms": "min"}
    assert best(df, metric="f1", objectives=senses)["trial_id"] == "b"  # ties with a, faster (more params)
    assert best(df, metric="f1")["trial_id"] == "c"  # the score alone: c counts, and wins
    assert results.counted(df, senses)["trial_id"].tolist() == ["a", "b", "d"]
    with pytest.raises(ValueError, match="none with a f1 and latency_ms and params <= 0"):
        best(df, metric="f1", objectives=senses, max_params=0)


def test_best_skips_unknown_params_under_a_budget() -> None:
    df = trials_frame()
    unknown = df.assign(params=df["params"].mask(df["trial"] == 5))
    assert best(unknown)["trial"] == 4  # a tie goes to the trial whose size is known
    assert best(unknown, max_params=10_000)["trial"] == 4
    better = unknown.assign(val_acc=unknown["val_acc"].mask(unknown["trial"] == 5, 0.97))
    assert best(better)["trial"] == 5
    assert best(better, max_params=10_000)["trial"] == 4  # unknown size is never within budget
    assert df["params"].notna().sum() == 7  # the input frame is untouched


def test_results_module_imports_neither_torch_nor_ray() -> None:
    code = "import sys, nas.record.results; print(sorted({'torch', 'ray'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
