"""The command line: bad input is one clear line and exit code 2; config files; show, plot, train."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import main
from nas.record import results
from nas.record.jsonl import Record

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--engine", "local", "--epochs", "1", "--limit", "300", "--ops", "conv,sepconv,maxpool", "--wirings", "chain"]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", "--trials", "0"], "--trials: expected an integer >= 1"),
        (["search", "--controller", "bayes"], "invalid choice: 'bayes'"),
        (["search", "--max-params", "lots"], "expected a count like 250000, 250k or 1.5M"),
        (["search", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["search", "--dataset", "cifar10", "--data-dir", "/nonexistent/data"], "cifar10: no CIFAR-10 files"),
        (["search", "--dataset", "imagefolder:/no/such/folder"], "/no/such/folder"),
        (["search", "--objectives", "val_acc,speed"], "unknown objective 'speed'; objectives: val_acc, params, flops"),
        (["search", "--name", "../escape"], "name must be letters, digits"),
        (["search", "--mutation-kinds", "grow"], "unknown mutation 'grow'; known: op_change"),
        (["search", "--sample", "25"], "sample must be between 1 and the population (8; pass --population"),
        (["search", "--init", "resnet9000", "--trials", "1"], "unknown zoo architecture 'resnet9000'"),
        (["search", "--init", "/no/such/genotype.json", "--trials", "1"], "--init /no/such/genotype.json: cannot"),
        (["search", "--resume", "/no/such/results"], "no search there"),
        (["search", "--config", "/no/such/file.yaml"], "cannot read config file /no/such/file.yaml"),
        (["show", "/no/such/results"], "no trials.jsonl at /no/such/results"),
        (["train", "zoo:nope"], "unknown zoo architecture 'nope'"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, args, message):
    """In this process (`launch.py` is `main`); the first case and the config files below go through launch.py."""
    argv = [*args, "--results-dir", str(tmp_path)] if args[0] in ("search", "train") else list(args)
    if args == ["search", "--trials", "0"]:
        proc = run_cli(*argv)
        code, err = proc.returncode, proc.stderr
    else:
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own errors
            code = e.code
        err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_malformed_config_files(tmp_path, capsys):
    cases = {
        "bad.yaml": ("trials: [1, 2", "is not valid yaml"),
        "bad.json": ('{"trials": ', "is not valid json"),
        "list.yaml": ("- 1\n- 2\n", "must hold a mapping"),
        "unknown.yaml": ("tirals: 3\n", "unknown option 'tirals'"),
        "type.yaml": ("trials: three\n", "trials must be int"),
        "train.yaml": ("train: {epochs: 0}\n", "epochs must be >= 1"),
        "evil.yaml": ("trials: !!python/object/apply:os.system ['echo pwned']\n", "is not valid yaml"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        argv = ["search", "--config", str(path), "--results-dir", str(tmp_path / "r")]
        if name == "evil.yaml":  # the way users run it
            proc = run_cli(*argv)
            code, err = proc.returncode, proc.stderr
        else:
            code, err = main(argv), capsys.readouterr().err
        assert code == 2 and message in err.lower(), (name, err)
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # nothing written


def test_config_file_then_flags(tmp_path, capsys):
    cfg = tmp_path / "search.yaml"
    cfg.write_text("controller: random\ntrials: 3\ntrain:\n  epochs: 1\nspace:\n  wirings: [chain]\n")
    code = main(
        ["search", "--config", str(cfg), "--trials", "2", "--results-dir", str(tmp_path), "--name", "c", *QUICK]
    )
    assert code == 0
    saved = json.loads((tmp_path / "c" / "config.json").read_text())
    assert saved["controller"]["name"] == "random" and saved["trials"] == 2 and saved["space"]["wirings"] == ["chain"]
    assert len([r for r in Record.open(tmp_path / "c").rows() if r["status"] == "ok"]) == 2
    out = capsys.readouterr().out
    assert "Pareto front" in out and str(tmp_path / "c") in out


def test_existing_results_are_never_overwritten(tmp_path):
    assert main(["search", "--trials", "1", "--results-dir", str(tmp_path), "--name", "x", *QUICK]) == 0
    before = (tmp_path / "x" / "trials.jsonl").read_bytes()
    proc = run_cli("search", "--trials", "1", "--results-dir", str(tmp_path), "--name", "x", *QUICK)
    assert proc.returncode == 2 and "already exists; pass --resume" in proc.stderr
    assert (tmp_path / "x" / "trials.jsonl").read_bytes() == before


def test_show_plot_and_train_from_a_search(tmp_path, capsys):
    assert main(["search", "--trials", "3", "--results-dir", str(tmp_path), "--name", "s", *QUICK]) == 0
    capsys.readouterr()
    assert main(["show", str(tmp_path / "s")]) == 0
    shown = capsys.readouterr().out
    assert "search s: 3 rows" in shown and "Pareto front" in shown
    assert main(["plot", str(tmp_path / "s")]) == 0
    figures = {p.name for p in (tmp_path / "s" / "figures").iterdir()}
    assert {"accuracy_vs_params.png", "best_so_far.svg"} <= figures
    assert (tmp_path / "s" / "report.html").exists()  # written at the end of the search
    code = main(
        ["train", f"{tmp_path / 's'}:best", "--engine", "local", "--epochs", "2", "--limit", "300"]
        + ["--results-dir", str(tmp_path), "--name", "retrain"]
    )
    assert code == 0
    (row,) = Record.open(tmp_path / "retrain").rows()
    best = results.best(results.load(tmp_path / "s"))
    assert row["controller"] == "train" and row["epochs"] == 2 and row["fingerprint"] == best["fingerprint"]
    assert (tmp_path / "retrain" / "weights" / f"{row['trial_id']}.safetensors").exists()


def test_ops_lists_every_op_and_the_zoo(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "deformable" in out and "highway" in out and "resnet50" in out


def test_export_best_pareto_and_refusals(tmp_path, capsys):
    import nas

    assert main(["search", "--trials", "3", "--results-dir", str(tmp_path), "--name", "s", *QUICK]) == 0
    folder = tmp_path / "s"
    assert main(["export", str(folder), "--trial", "best", "--out", str(tmp_path / "best")]) == 0
    assert {"model.py", "weights.safetensors", "genotype.json", "README.md"} <= {
        p.name for p in (tmp_path / "best").iterdir()
    }
    assert main(["export", str(folder), "--trial", "pareto", "--out", str(tmp_path / "front")]) == 0
    front = results.pareto_front(results.load(folder))
    assert {p.name for p in (tmp_path / "front").iterdir()} == set(front["trial_id"])
    capsys.readouterr()
    for args, message in [
        (["--trial", "99999", "--out", str(tmp_path / "x")], "no trial '99999'"),
        (["--trial", "best", "--out", str(tmp_path / "best")], "not empty"),
        (["--trial", "best", "--out", str(tmp_path / "y"), "--format", "gif"], "format"),
    ]:
        assert main(["export", str(folder), *args]) == 2
        assert message in capsys.readouterr().err.lower()
    assert callable(nas.export)  # the Python API: nas.export(genotype, state_dict, out_dir, ...)


@pytest.mark.parametrize("engine", ["ray", "local"])
def test_a_device_this_machine_lacks_is_refused_before_anything_is_written(tmp_path, engine):
    """With Ray on this machine (no --address) the device is checked at preflight too, not inside every trial."""
    import torch

    index = torch.cuda.device_count() if torch.cuda.is_available() else 0  # one past the last GPU, or any on a CPU
    proc = run_cli("search", "--device", f"cuda:{index}", "--engine", engine, "--results-dir", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--device: device 'cuda:{index}' requested" in lines[0], proc.stderr
    assert not any(tmp_path.iterdir())  # no results folder


def test_init_from_a_genotype_file(tmp_path, capsys):
    import searchspace as ss
    from searchspace import wirings

    stage = wirings.make_stage("chain", [ss.node("sepconv"), ss.node("maxpool")], 24, 2)
    seed = ss.Genotype(ss.Stage(12, (ss.node("conv"),)), (stage,), ss.Head())  # inside QUICK's ops and wirings
    spec = tmp_path / "mine.json"
    spec.write_text(seed.to_json())
    args = ["search", "--init", str(spec), "--trials", "2", "--results-dir", str(tmp_path), "--name", "g", *QUICK]
    assert main(args) == 0
    rows = Record.open(tmp_path / "g").rows()
    assert ss.Genotype.from_dict(rows[0]["genotype"]) == seed and rows[0]["meta"]["origin"] == "init"
    bad = tmp_path / "bad.json"
    bad.write_text('{"stem": 3}')
    assert main(["search", "--init", str(bad), "--results-dir", str(tmp_path), "--name", "b", *QUICK]) == 2
    assert "--init " + str(bad) + ": not a genotype" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_the_readme_recipe_for_the_seeds_algorithm_1_runs_as_written(tmp_path):
    """README: `--variant tournament --sample 25 --mutations D --mutation-kinds seeds` (here D = 3): the tournament
    variant's population defaults to 2 x sample, so a tournament of 25 fits without --population. 54 trials: the
    50 random ones of the population, then children mutated max(D - t, 1) times: 3, 2, 1, 1."""
    args = ["search", "--variant", "tournament", "--sample", "25", "--mutations", "3", "--mutation-kinds", "seeds"]
    quick = [*QUICK, "--limit", "100", "--report-every", "0", "--no-latency"]  # (the later --limit wins)
    assert main([*args, "--trials", "54", *quick, "--results-dir", str(tmp_path), "--name", "alg1"]) == 0
    saved = json.loads((tmp_path / "alg1" / "config.json").read_text())
    ctrl = saved["controller"]  # (config.json keeps a controller's options with it since issue 35)
    assert (ctrl["variant"], ctrl["population"], ctrl["sample"], ctrl["mutations"]) == ("tournament", 50, 25, 3)
    assert saved["space"]["mutation_kinds"] == ["seeds"]
    rows = Record.open(tmp_path / "alg1").rows()
    randoms = [i for i, r in enumerate(rows) if r["meta"].get("origin") == "random"]
    children = [i for i, r in enumerate(rows) if "mutations" in r["meta"]]
    assert len(randoms) >= 50 and max(randoms) < min(children)  # the population first, then its children
    assert [len(rows[i]["meta"]["mutations"]) for i in children[:4]] == [3, 2, 1, 1]  # max(d - t, 1)
    assert {k for i in children for k in rows[i]["meta"]["mutations"]} <= {"op_change", "kernel_change", "add_node"}
    by_id = {r["trial_id"]: r for r in rows}
    for i in children:
        (parent,) = rows[i]["parents"]
        assert by_id[parent]["status"] == "ok" and rows[i]["generation"] == by_id[parent]["generation"] + 1
    assert rows[children[0]]["fingerprint"] != by_id[rows[children[0]]["parents"][0]]["fingerprint"]
