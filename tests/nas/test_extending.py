"""Extending nasgraph from outside: a plugin file adds a controller, an engine, a dataset and an export format.

Run the way users run it: ``launch.py`` in a fresh interpreter, the plugin a file nasgraph does not ship
(`plugin_everything.py`, copied outside the project), the resume ``--resume DIR`` with no other flag but
the budget, the export loaded by the runtime that serves it. The README's "Extending nasgraph" block is run
verbatim too. Nothing here edits a nasgraph file: each entry is a registration in the plugin.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nas.record.jsonl import Record
from nas.registry import CONTROLLERS, ENGINES, EXPORT_FORMATS
from nas.status import Status

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = Path(__file__).with_name("plugin_everything.py")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    path = tmp_path / "mine" / "everything.py"
    path.parent.mkdir()
    shutil.copy(PLUGIN, path)
    return path


def test_the_help_lists_what_a_plugin_registers(plugin, tmp_path):
    shown = run_cli("search", "--plugin", str(plugin), "--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = " ".join(shown.stdout.split())
    assert "walk: a random walk by single mutations" in text  # the controller's docstring, from the registry
    assert "--steps STEPS walk: children without improvement" in text  # its option, a flag
    assert "budget: trials in this process" in text and "--max-epochs MAX_EPOCHS budget:" in text
    plain = run_cli("search", "--help", cwd=tmp_path)
    assert "walk" not in plain.stdout and "--steps" not in plain.stdout  # nothing registered without it


def test_a_plugin_controller_engine_dataset_and_format_search_resume_and_export(plugin, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    args = ["--controller", "walk", "--steps", "2", "--engine", "budget", "--max-epochs", "1"]
    args += ["--dataset", "stripes", "--epochs", "3", "--keep-weights", "all", "--report-every", "0"]
    args += ["--ops", "conv,sepconv,maxpool"]  # (a frozen deformable conv loads only where torchvision is imported)
    first = run_cli(
        "search", "--plugin", str(plugin), *args, "--trials", "5", "--results-dir", str(work), "--name", "p", cwd=work
    )
    assert first.returncode == 0, first.stderr[-3000:]
    folder = work / "p"
    saved = json.loads((folder / "config.json").read_text())
    assert saved["controller"] == {"name": "walk", "steps": 2}  # its options, kept with it
    assert saved["engine"] == {"name": "budget", "max_epochs": 1}
    assert saved["dataset"] == "stripes" and saved["plugins"] == [str(plugin.resolve())]
    rows = Record.open(folder).rows()
    assert [r["controller"] for r in rows] == ["walk"] * 5
    assert all(r["status"] == Status.OK and r["epochs"] == 1 for r in rows)  # the engine's budget, not --epochs 3
    assert all(r["budget_epochs"] == 1 for r in rows)  # an engine's own metric, a column of the record
    assert max(r["val_acc"] for r in rows) > 0.6  # the stripes are learnable (chance is 0.5)
    children = [r for r in rows if r["parents"]]
    assert children and all(p in {r["trial_id"] for r in rows} for c in children for p in c["parents"])

    # the engine's option may change on resume (its flag known from the saved plugin), and is saved
    resumed = run_cli("search", "--resume", str(folder), "--trials", "8", "--max-epochs", "2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rows = Record.open(folder).rows()
    assert len(rows) == 8 and [r["controller"] for r in rows] == ["walk"] * 8
    assert [r["epochs"] for r in rows[5:]] == [2, 2, 2]
    assert json.loads((folder / "config.json").read_text())["engine"] == {"name": "budget", "max_epochs": 2}
    state = json.loads((folder / "state" / "controller.json").read_text())
    assert state["controller"] == "walk" and state["told"] == 8 and state["steps"] == 2

    out = tmp_path / "served"
    exported = run_cli("export", str(folder), "--trial", "best", "--out", str(out), "--format", "frozen", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "model.frozen.pt" in (out / "README.md").read_text()  # listed with the format's own line
    serve = "import torch; m = torch.jit.load('model.frozen.pt'); print(tuple(m(torch.zeros(64, 1, 8, 8)).shape))"
    loaded = subprocess.run([sys.executable, "-c", serve], cwd=out, capture_output=True, text=True, timeout=120)
    assert loaded.stdout.strip() == "(64, 2)", loaded.stderr[-2000:]


def test_a_plugin_option_not_allowed_is_one_line_and_writes_nothing(plugin, tmp_path):
    flag = run_cli("search", "--plugin", str(plugin), "--controller", "walk", "--steps", "0", cwd=tmp_path)
    assert flag.returncode == 2 and "argument --steps: expected an integer >= 1, got '0'" in flag.stderr
    config = tmp_path / "search.json"  # the options dataclass's own check, for a config file's value
    config.write_text(json.dumps({"plugins": [str(plugin)], "controller": {"name": "walk", "steps": 0}}))
    proc = run_cli("search", "--config", str(config), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: controller walk: steps must be >= 1, got 0"
    ], proc.stderr
    other = run_cli("search", "--plugin", str(plugin), "--controller", "random", "--steps", "2", cwd=tmp_path)
    assert other.returncode == 2 and "unknown option controller.steps of random; its options: population" in (
        other.stderr
    )
    assert not (tmp_path / "results").exists()


def readme_block(heading: str) -> tuple[str, str]:
    """The first ```python block under ``heading`` in README.md, and the first ```bash block after it."""
    section = (ROOT / "README.md").read_text().split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    command = re.search(r"```bash\n(.*?)```", section, re.S)
    assert code and command, f"no python and bash blocks under {heading}"
    return code.group(1), command.group(1)


def test_the_readme_controller_plugin_runs_verbatim(tmp_path):
    code, command = readme_block("## Extending nasgraph")
    name = re.search(r"--plugin (\S+\.py)", command).group(1)
    (tmp_path / name).write_text(code)
    shutil.copy(ROOT / "launch.py", tmp_path / "launch.py")  # the command as written: python launch.py ...
    env_path = f"PYTHONPATH={ROOT} "
    proc = subprocess.run(env_path + command.strip(), shell=True, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = next(tmp_path.glob("results/*"))
    rows = Record.open(folder).rows()
    registered = re.search(r'register_controller\("(\w+)"', code).group(1)
    assert rows and {r["controller"] for r in rows} == {registered}
    assert sum(r["status"] == Status.OK for r in rows) >= 4


@pytest.mark.parametrize("registry", [CONTROLLERS, ENGINES, EXPORT_FORMATS], ids=lambda r: r.kind)
def test_every_built_in_entry_has_a_summary_for_the_help(registry):
    """--help and the README's tables read each entry's line from the registry: none may be empty."""
    assert all(e.summary for e in registry), [e.name for e in registry if not e.summary]


def test_the_readme_tables_are_the_registries():
    """README.md's tables of controllers, engines and export formats are written from the registries."""
    from nas.cli.tables import rewrite

    text = (ROOT / "README.md").read_text()
    assert text.count("<!-- registry:") == 3
    assert rewrite(text) == text, "run: python -m nas.cli.tables --write README.md"


def test_a_flat_config_json_of_before_resumes_and_a_controllers_options_cannot_change(tmp_path):
    """config.json keeps a controller's options with it; one written flat (before issue 35) still resumes, and an
    option given on resume that differs from the saved one is refused like any option that shapes the trials."""
    args = ["--engine", "local", "--controller", "local_search", "--population", "3", "--patience", "5"]
    args += ["--epochs", "1", "--limit", "200", "--ops", "conv", "--wirings", "chain", "--report-every", "0"]
    first = run_cli("search", *args, "--trials", "3", "--results-dir", str(tmp_path), "--name", "r", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    config = tmp_path / "r" / "config.json"
    saved = json.loads(config.read_text())
    assert saved["controller"] == {"name": "local_search", "population": 3, "patience": 5}
    flat = {k: v for k, v in saved.items() if k != "controller"} | {"controller": "local_search"}
    flat |= {"population": 3, "patience": 5, "sample": 3, "variant": "aging", "mutations": 1, "init": []}
    config.write_text(json.dumps(flat))  # as nasgraph wrote it before: every controller's options, flat
    changed = run_cli("search", "--resume", str(tmp_path / "r"), "--patience", "6", cwd=tmp_path)
    assert changed.returncode == 2 and "--patience cannot change on resume (saved 5, given 6)" in changed.stderr
    resumed = run_cli("search", "--resume", str(tmp_path / "r"), "--trials", "4", "--patience", "5", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = Record.open(tmp_path / "r").rows()
    assert len(rows) == 4 and {r["controller"] for r in rows} == {"local_search"}
    assert json.loads(config.read_text())["controller"] == {"name": "local_search", "population": 3, "patience": 5}


def test_a_controllers_options_follow_replace_flat_keywords_and_explicit_flat_keys():
    import dataclasses

    from nas.config import SearchConfig

    cfg = SearchConfig(controller_options={"population": 20})
    assert dataclasses.replace(cfg, controller_options={"population": 30}).controller_options.population == 30
    assert dataclasses.replace(cfg, population=31).controller_options.population == 31  # the flat keyword
    assert dataclasses.replace(cfg, controller="random").controller_options.population == 20  # what they share
    assert SearchConfig(population=3, sample=2).population == 3  # the flat name reads the options
    nested = SearchConfig(controller="random", controller_options={"population": 12}).to_dict()
    assert SearchConfig.from_dict(nested | {"population": 30}).controller_options.population == 30


def test_a_config_files_controller_options_stay_when_the_flag_names_the_same_controller(tmp_path):
    from nas.cli.options import build_parser, given_options

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"controller": {"name": "evolution", "population": 20}}))
    same = given_options(build_parser().parse_args(["search", "--config", str(config), "--controller", "evolution"]))
    assert same["controller"] == {"name": "evolution", "population": 20}
    more = given_options(build_parser().parse_args(["search", "--config", str(config), "--sample", "4"]))
    assert more["controller"] == {"name": "evolution", "population": 20, "sample": 4}
    other = given_options(build_parser().parse_args(["search", "--config", str(config), "--controller", "random"]))
    assert other["controller"] == "random"


def test_a_plugin_may_not_take_a_built_in_name_or_an_options_flag(tmp_path):
    clash = tmp_path / "clash.py"
    clash.write_text(
        "import nas\n\n@nas.register_controller('tpe')\nclass Mine(nas.Controller):\n"
        "    def propose(self, trial_id):\n        return nas.Proposal(trial_id, self.space.sample(self.rng))\n"
    )
    proc = run_cli("search", "--plugin", str(clash), "--help", cwd=tmp_path)
    assert proc.returncode == 2 and "controller 'tpe' is built in; register yours under another name" in proc.stderr
    taken = tmp_path / "taken.py"
    taken.write_text(
        "from dataclasses import dataclass\nimport nas\n\n@dataclass(frozen=True)\nclass O:\n"
        "    name: str = nas.option('x', 'a name')\n\n@nas.register_controller('named', options=O)\n"
        "class Mine(nas.Controller):\n    def propose(self, trial_id):\n"
        "        return nas.Proposal(trial_id, self.space.sample(self.rng))\n"
    )
    proc = run_cli("search", "--plugin", str(taken), "--help", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "controller.name: its flag --name is taken" in lines[0]
