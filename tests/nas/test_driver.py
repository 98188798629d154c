"""The search driver's bookkeeping with the in-process engine: record, dedupe, constraints, lock, resume."""

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.config import SearchConfig
from nas.data import load_dataset
from nas.driver.coordinator import DataInfo, SearchError, SearchState
from nas.engines import LocalEngine
from nas.pareto import Leaders, pareto_mask
from nas.record import results
from nas.record.jsonl import Record
from nas.status import DISPATCHED
from nas.trial.train import TrainConfig

TINY_SPACE = {
    "ops": ["conv", "sepconv", "maxpool"],
    "wirings": ["chain"],
    "stages": [1, 2],
    "nodes": [1, 2],
    "widths": [8, 16],
    "head_hidden": [0],
    "head_dropout": [0.0],
}


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", limit=300)


def config(**kw) -> SearchConfig:
    base = {"engine": "local", "trials": 4, "space": TINY_SPACE, "train": TrainConfig(epochs=1, threads=1)}
    return SearchConfig(**(base | kw))


def run(cfg, root, data, resume=False) -> SearchState:
    with SearchState(cfg, root, DataInfo.of(data), resume=resume, log=lambda s: None) as state:
        LocalEngine(data).run(state)
    return state


def counted(rows):
    return [r for r in rows if r["status"] in DISPATCHED]


def test_a_search_records_every_trial_and_keeps_front_weights(tmp_path, data):
    root = tmp_path / "s"
    run(config(trials=5), root, data)
    rows = Record.open(root / "trials.jsonl").rows()
    assert len(counted(rows)) == 5
    assert all(r["status"] == "ok" and 0 <= r["val_acc"] <= 1 and r["params"] > 0 for r in counted(rows))
    assert json.loads((root / "config.json").read_text())["trials"] == 5
    assert (root / "trials.parquet").exists()
    state = json.loads((root / "state/controller.json").read_text())
    assert (state["told"], state["last_told"]) == (len(rows), rows[-1]["trial_id"])  # the state is the record
    df = results.load(root)
    front = set(results.pareto_front(df)["trial_id"]) | {results.best(df)["trial_id"]}
    kept = {p.stem for p in (root / "weights").glob("*.safetensors")}
    assert kept == front


def test_existing_folder_is_refused_without_resume(tmp_path, data):
    root = tmp_path / "s"
    run(config(trials=1), root, data)
    with pytest.raises(SearchError, match="already exists; pass --resume"):
        SearchState(config(trials=1), root, DataInfo.of(data))
    with pytest.raises(SearchError, match="no search there"):
        SearchState(config(trials=1), tmp_path / "nothing", DataInfo.of(data), resume=True)


def test_a_second_search_on_the_same_folder_is_locked_out(tmp_path, data):
    root = tmp_path / "s"
    run(config(trials=1), root, data)  # a search with a recorded trial (an empty new one leaves no folder)
    with SearchState(config(), root, DataInfo.of(data), resume=True, log=lambda s: None):
        with pytest.raises(SearchError, match="in use by another search"):
            SearchState(config(), root, DataInfo.of(data), resume=True)
    SearchState(config(), root, DataInfo.of(data), resume=True, log=lambda s: None).close()  # free again


def test_a_new_search_that_records_nothing_leaves_no_folder_but_a_resumed_one_is_kept(tmp_path, data):
    root = tmp_path / "s"
    with pytest.raises(RuntimeError, match="the cluster went away"):
        with SearchState(config(), root, DataInfo.of(data), log=lambda s: None):
            assert (root / "config.json").exists()
            raise RuntimeError("the cluster went away")  # what a failed Ray start looks like from here
    assert not root.exists()  # the same command can simply be run again
    run(config(trials=1), root, data)
    with SearchState(config(trials=3), root, DataInfo.of(data), resume=True, log=lambda s: None):
        pass  # a resume that adds nothing
    assert len(Record.open(root).rows()) == 1


def test_duplicates_replay_known_results_and_are_never_trained(tmp_path, data):
    space = TINY_SPACE | {"ops": ["conv"], "stages": [1, 1], "widths": [8]}  # six architectures in all
    root = tmp_path / "s"
    run(config(trials=4, controller="random", space=space), root, data)
    rows = Record.open(root / "trials.jsonl").rows()
    dups = [r for r in rows if r["status"] == "duplicate"]
    trained = counted(rows)
    assert len(trained) == 4 and dups
    assert len({r["fingerprint"] for r in trained}) == 4  # nothing trained twice
    by_id = {r["trial_id"]: r for r in rows}
    for d in dups:
        twin = by_id[d["duplicate_of"]]
        assert d["fingerprint"] == twin["fingerprint"] and d["val_acc"] == twin["val_acc"]


def test_a_repeat_of_a_diverged_architecture_is_no_result_for_the_controller(tmp_path, data):
    """A duplicate replays its twin's row; when the twin diverged, its chance-level accuracy must not put the
    repeat into evolution's population (the diverged original never entered it)."""
    space = TINY_SPACE | {"ops": ["conv"], "stages": [1, 1], "widths": [8]}  # six architectures in all
    root = tmp_path / "s"
    train = TrainConfig(epochs=1, threads=1, lr=1e12)  # every trial diverges
    state = run(config(trials=5, controller="evolution", population=3, space=space, train=train), root, data)
    rows = Record.open(root / "trials.jsonl").rows()
    assert {r["status"] for r in counted(rows)} == {"diverged"}
    dups = [r for r in rows if r["status"] == "duplicate"]
    assert dups and all(r["val_acc"] is None and "training loss" in r["error"] for r in dups)
    assert state.controller.population == []


def test_an_exhausted_space_stops_with_a_clear_error(tmp_path, data, monkeypatch):
    monkeypatch.setattr(SearchState, "max_skips", 60)
    space = TINY_SPACE | {"ops": ["conv"], "stages": [1, 1], "nodes": [1, 1], "widths": [8]}  # two architectures
    with pytest.raises(SearchError, match="60 proposals in a row were rejected or duplicates"):
        run(config(trials=3, controller="random", space=space), tmp_path / "s", data)


def test_constraints_reject_before_training(tmp_path, data):
    root = tmp_path / "s"
    run(config(trials=4, controller="random", max_params=2_000, space=TINY_SPACE | {"widths": [8, 64]}), root, data)
    rows = Record.open(root / "trials.jsonl").rows()
    rejected = [r for r in rows if r["status"] == "rejected"]
    assert rejected and all("> --max-params 2,000" in r["error"] for r in rejected)
    assert all(r["params"] > 2_000 for r in rejected)
    assert all(r["params"] <= 2_000 for r in counted(rows)) and len(counted(rows)) == 4


def test_resume_continues_to_the_requested_total(tmp_path, data):
    root = tmp_path / "s"
    run(config(trials=3), root, data)
    first = Record.open(root / "trials.jsonl").rows()
    state = run(config(trials=6), root, data, resume=True)
    rows = Record.open(root / "trials.jsonl").rows()
    assert rows[: len(first)] == first  # nothing rewritten
    assert len(counted(rows)) == 6
    assert len({r["trial_id"] for r in rows}) == len(rows)  # none counted twice
    assert (state.controller.told, state.controller.last_told) == (len(rows), rows[-1]["trial_id"])
    assert json.loads((root / "config.json").read_text())["trials"] == 6


def test_resume_replays_a_record_the_saved_state_has_not_seen(tmp_path, data):
    root = tmp_path / "s"
    run(config(trials=3), root, data)
    (root / "state/controller.json").unlink()  # as if the process died between the record and the state
    with SearchState(config(trials=3), root, DataInfo.of(data), resume=True, log=lambda s: None) as state:
        rows = state.record.rows()
        assert (state.controller.told, state.controller.last_told) == (len(rows), rows[-1]["trial_id"])
        assert {m["trial_id"] for m in state.controller.population} == {r["trial_id"] for r in rows}
        assert state.done
        assert state.controller.asked >= max(int(r["trial_id"]) for r in rows)  # new ids never collide


def test_torn_record_tail_is_set_aside_on_resume(tmp_path, data):
    root = tmp_path / "s"
    run(config(trials=2), root, data)
    with open(root / "trials.jsonl", "ab") as f:
        f.write(b'{"trial_id": "00099", "status": "ok", "val_a')  # a crash mid-write
    with pytest.warns(RuntimeWarning):
        run(config(trials=3), root, data, resume=True)
    rows = Record.open(root / "trials.jsonl").rows()
    assert len(counted(rows)) == 3 and "00099" not in {r["trial_id"] for r in rows}
    assert list(root.glob("trials.jsonl.torn-*"))


def test_resume_keeps_the_saved_search_options(tmp_path, data):
    root = tmp_path / "s"
    run(config(trials=2, seed=5), root, data)
    with SearchState(config(trials=3, seed=99, controller="random"), root, DataInfo.of(data), resume=True) as state:
        assert state.cfg.seed == 5 and state.cfg.controller == "evolution" and state.cfg.trials == 3


def test_statuses_of_failed_trials_are_recorded(tmp_path, data):
    root = tmp_path / "s"
    run(config(trials=2, train=TrainConfig(epochs=1, fault="nan")), root, data)
    rows = Record.open(root / "trials.jsonl").rows()
    assert Counter(r["status"] for r in counted(rows)) == {"diverged": 2}
    assert all("nan" in r["error"] for r in rows)
    assert not list((root / "weights").glob("*")) if (root / "weights").exists() else True


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ok", "ok", "ok", "error", "stopped"]),
            st.one_of(st.none(), st.sampled_from([0.1, 0.5, 0.5, 0.9, 1.0, float("nan")])),
            st.one_of(st.none(), st.sampled_from([10, 100, 100, 1000])),
        ),
        max_size=40,
    )
)
def test_leaders_kept_row_by_row_match_the_batch_front_and_best(rows):
    rows = [{"trial_id": f"t{i:03d}", "status": s, "val_acc": acc, "params": p} for i, (s, acc, p) in enumerate(rows)]
    leaders = Leaders()
    for row in rows:
        leaders.add(row)
    # a row counts with both objectives present and finite (`nas.objectives.counts`): one without params does not
    ok = [
        r
        for r in rows
        if r["status"] == "ok" and None not in (r["val_acc"], r["params"]) and r["val_acc"] == r["val_acc"]
    ]
    values = np.array([[r["val_acc"], r["params"]] for r in ok], dtype=float).reshape(-1, 2)
    expected = [r["trial_id"] for r, m in zip(ok, pareto_mask(values, [True, False]), strict=True) if m]
    assert [r["trial_id"] for r in leaders.front] == expected
    best = max(ok, key=lambda r: (r["val_acc"], -r["params"]), default=None)
    assert leaders.best is best
