"""The README's "From Python" block, run verbatim as a user pastes it into a script.

A global ``x`` (the data) beside an op whose ``forward(self, x)`` reads its parameter once made
the export refuse (`test_user_source.py` has the scoping cases); this runs the whole block through
the default (Ray) engine and checks what it promises: a search, a resume to 8 trials, an export
whose model.py carries the user's op and imports no nasgraph.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_block(heading: str) -> str:
    """The first ```python block under ``heading`` in README.md."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, f"no python block under {heading}"
    return m.group(1)


@pytest.mark.timeout(900)
def test_the_readme_python_block_runs_verbatim(tmp_path):
    script = tmp_path / "from_readme.py"
    script.write_text(readme_block("## From Python"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=840
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Token authentication" not in proc.stderr  # Ray's warning on every local run, kept quiet
    model = (tmp_path / "exported" / "model.py").read_text()
    assert "class Net(" in model
    assert not re.search(r"^\s*(import|from) (nas|searchspace)\b", model, re.M)
    genotype = json.loads((tmp_path / "exported" / "genotype.json").read_text())
    if "mixconv" in json.dumps(genotype):
        assert "class MixConv(nn.Module)" in model
    records = list(tmp_path.rglob("trials.jsonl"))
    assert len(records) == 1
    rows = [json.loads(line) for line in records[0].read_text().splitlines() if line.strip()]
    counted = [r for r in rows if r["status"] not in ("duplicate", "rejected")]
    assert len(counted) == 8  # 4, then resumed to 8
    assert any(r["status"] == "ok" and "val_macro_f1" in r for r in rows)
    # it learns from its own metric: evolution's population holds the ok trials' val_macro_f1, and after the
    # random start (population 4) every proposal is a mutated child of a member
    state = json.loads(next(tmp_path.rglob("controller.json")).read_text())
    ok = [r for r in rows if r["status"] in ("ok", "duplicate") and r.get("val_macro_f1") is not None]
    assert state["population"] and {m["trial_id"] for m in state["population"]} <= {r["trial_id"] for r in ok}
    assert all(m["metrics"]["val_macro_f1"] is not None for m in state["population"])
    assert all(len(r["parents"]) == 1 for r in rows if int(r["trial_id"]) > 4)
