"""`launch.py search --resume DIR`: the saved options stand unless a run-time option is given explicitly.

The matrix: for each option a resume may change, resuming without it keeps the saved value and with
it changes it (printed, and saved in config.json); for each option that shapes the trials, a
different value is refused in one line and the same value is accepted; a finished search resumed
adds nothing.
"""

import json
import shutil

import pytest

from nas.cli import main
from nas.record.jsonl import Record

QUICK = ["--engine", "local", "--epochs", "1", "--limit", "300", "--ops", "conv,sepconv,maxpool", "--wirings", "chain"]
SAVED = {"trials": 2, "concurrency": 3, "cpus_per_trial": 1.5, "trial_timeout": 100.0, "storage": "/tmp/saved-storage"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-trial search whose run-time options are not the defaults."""
    tmp = tmp_path_factory.mktemp("resume")
    args = ["search", *QUICK, "--trials", "2", "--concurrency", "3", "--cpus-per-trial", "1.5"]
    args += ["--trial-timeout", "100", "--storage", "/tmp/saved-storage", "--results-dir", str(tmp), "--name", "base"]
    assert main(args) == 0
    return tmp / "base"


@pytest.fixture
def copy(finished, tmp_path):
    root = tmp_path / "base"
    shutil.copytree(finished, root)
    return root


def config(root):
    return json.loads((root / "config.json").read_text())


def test_resume_alone_keeps_every_saved_option_and_adds_nothing_to_a_finished_search(copy, capsys):
    before = Record.open(copy).rows()
    saved = config(copy)
    assert main(["search", "--resume", str(copy)]) == 0
    assert Record.open(copy).rows() == before  # finished: not one more trial (the default is 20)
    assert config(copy) == saved
    assert {k: saved[k] for k in SAVED} == SAVED and saved["engine"] == "local"
    assert "resume:" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, value, key, expected",
    [
        ("--concurrency", "5", "concurrency", 5),
        ("--cpus-per-trial", "2", "cpus_per_trial", 2.0),
        ("--gpus-per-trial", "0.5", "gpus_per_trial", 0.5),
        ("--storage", "/tmp/other-storage", "storage", "/tmp/other-storage"),
        ("--engine", "ray", "engine", "ray"),
        ("--trial-timeout", "50", "trial_timeout", 50.0),
        ("--data-dir", "/tmp/other-data", "data_dir", "/tmp/other-data"),
    ],
)
def test_a_run_time_option_given_on_resume_changes_it_and_says_so(copy, capsys, flag, value, key, expected):
    saved = config(copy)
    assert main(["search", "--resume", str(copy), flag, value]) == 0
    now = config(copy)
    assert now[key] == expected and now[key] != saved[key]
    assert {k: v for k, v in now.items() if k != key} == {k: v for k, v in saved.items() if k != key}
    err = capsys.readouterr().err
    assert f"resume: {flag} {saved[key]!r} -> {expected!r}" in err


def test_more_trials_on_resume_runs_exactly_the_difference(copy, capsys):
    assert main(["search", "--resume", str(copy), "--trials", "3"]) == 0
    rows = Record.open(copy).rows()
    assert len([r for r in rows if r["status"] == "ok"]) == 3 and config(copy)["trials"] == 3
    assert "resume: --trials 2 -> 3" in capsys.readouterr().err
    assert main(["search", "--resume", str(copy)]) == 0  # and resumed again without it: the new 3 stands
    assert len(Record.open(copy).rows()) == len(rows)


@pytest.mark.parametrize(
    "flags, name",
    [
        (["--epochs", "3"], "--epochs"),
        (["--controller", "random"], "--controller"),
        (["--dataset", "synthetic"], "--dataset"),
        (["--max-params", "100k"], "--max-params"),
        (["--ops", "conv"], "--ops"),
        (["--seed", "5"], "--seed"),
        (["--objectives", "val_acc,flops"], "--objectives"),
        (["--lr", "0.05"], "--lr"),
    ],
)
def test_an_option_that_shapes_the_trials_is_refused_on_resume(copy, capsys, flags, name):
    saved, before = config(copy), Record.open(copy).rows()
    assert main(["search", "--resume", str(copy), *flags]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"{name} cannot change on resume" in lines[0] and "start a new search" in lines[0]
    assert config(copy) == saved and Record.open(copy).rows() == before


def test_the_saved_value_given_again_is_accepted(copy, capsys):
    saved = config(copy)
    assert (
        main(["search", "--resume", str(copy), "--epochs", "1", "--ops", "conv,sepconv,maxpool", "--trials", "2"]) == 0
    )
    assert config(copy) == saved and "resume:" not in capsys.readouterr().err
