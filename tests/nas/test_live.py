"""A search seen while it runs: report.html rewritten every few trials (atomically, with a banner and a refresh
tag), and ``launch.py show --watch`` following the record until the search ends.

Real searches, real files: the report is read from inside the search's own training function (what a
browser opened on it during the search would load), and ``show --watch`` runs beside a ``launch.py search``
in its own process.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from test_api import quick_train

import nas
from nas.driver import live
from nas.record.folder import ResultsFolder, held
from nas.report import html as html_report

ROOT = Path(__file__).resolve().parents[2]
SPACE = {"ops": ["conv", "maxpool"], "wirings": ["chain"], "widths": [8], "head_hidden": [0]}


def test_the_report_is_rewritten_while_the_search_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(live, "COST_SHARE", 1.0)  # write at every chance (by default at most a tenth of the time)
    x, y = load_digits(return_X_y=True)
    seen: list[str | None] = []  # report.html as each trial found it when it started training
    box: dict[str, Path] = {}

    def train(model, data, config, report):
        page = box["root"] / "report.html"
        seen.append(page.read_text() if page.exists() else None)
        return quick_train(model, data, config, report)

    cfg = {"engine": "local", "trials": 6, "report_every": 2, "controller": "random", "space": SPACE}
    search = nas.Search(cfg, data=(x.reshape(-1, 8, 8).astype(np.float32)[:300], y[:300]), train_fn=train,
                        results_dir=tmp_path, progress=False)  # fmt: skip
    box["root"] = search.root
    search.run()
    assert seen[:2] == [None, None]  # (trials 1 and 2 ran before anything was written)
    for k in (2, 4):  # written after trials 2 and 4: seen by trials 3-4 and 5-6
        for page in seen[k : k + 2]:
            assert f"<strong>Search running</strong>: {k} of 6 trials done, 0 running" in page
            assert '<meta http-equiv="refresh" content="15">' in page
            assert len(re.findall(r"<tr><td>\d{5}", page)) >= 1  # the front table as it stood
    final = (search.root / "report.html").read_text()
    assert "Search running" not in final and "http-equiv" not in final and "Pareto front" in final


def test_a_live_report_before_any_ok_trial_says_so(tmp_path):
    from nas.record.jsonl import Record

    root = tmp_path / "s"
    root.mkdir()
    with Record.open(root / "trials.jsonl") as record:
        record.append({"trial_id": "00001", "status": "error", "error": "boom", "genotype": {}, "fingerprint": "f"})
    page = html_report.write_report(root, live=html_report.Live(1, 10, 2, time.time())).read_text()
    assert "1 of 10 trials done, 2 running" in page and "No trial has finished ok yet (recorded: error 1)" in page
    assert "boom" in page and '<meta http-equiv="refresh"' in page
    with pytest.raises(ValueError, match="no ok trials to report"):
        html_report.write_report(root)  # the final report needs an ok trial


def test_reading_the_report_while_it_is_rewritten_never_sees_a_torn_file(tmp_path):
    root = tmp_path / "digits"
    subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "search", "--engine", "local", "--trials", "3", "--epochs", "1",
         "--limit", "300", "--ops", "conv,maxpool", "--wirings", "chain", "--results-dir", str(tmp_path),
         "--name", "digits"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    page = root / "report.html"
    reads, torn, stop = [0], [], threading.Event()

    def reader():
        while not stop.is_set():
            text = page.read_bytes()
            reads[0] += 1
            if not (text.startswith(b"<!DOCTYPE html>") and text.endswith(b"</html>\n")):
                torn.append(len(text))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for done in range(12):
            html_report.write_report(root, live=html_report.Live(done, 12, 1, time.time()))
    finally:
        stop.set()
        thread.join()
    assert reads[0] > 12 and not torn  # every read was a whole page, old or new
    assert not [p.name for p in root.iterdir() if p.name.startswith(".report.html")]  # no temporary left behind


def test_show_watch_follows_a_running_search_until_it_ends(tmp_path):
    root = tmp_path / "w"
    search = subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), "search", "--engine", "local", "--trials", "8", "--epochs", "3",
         "--limit", "300", "--ops", "conv,maxpool", "--wirings", "chain", "--results-dir", str(tmp_path),
         "--name", "w"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while not (root / "trials.jsonl").is_file():
            assert time.time() < deadline and search.poll() is None, "the search never recorded a trial"
            time.sleep(0.05)
        assert held(root)
        watch = subprocess.run(
            [sys.executable, str(ROOT / "launch.py"), "show", str(root), "--watch", "0.2"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        search.wait(timeout=300)
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 0, search.stderr.read()[-2000:]
    assert watch.returncode == 0, watch.stderr[-2000:]
    out = watch.stdout
    done = [int(n) for n in re.findall(r"^(\d+) of 8 trials done", out, re.M)]
    assert out.startswith("--- ") and " running: " in out.splitlines()[0]  # it began while the search ran
    assert len(done) >= 2 and done == sorted(done) and done[-1] == 8  # it followed the record to the end
    assert out.rstrip().endswith("is not running (ended, stopped, or never started here)")
    assert not held(root)
    show = [sys.executable, str(ROOT / "launch.py"), "show", str(root)]
    assert "running:" not in subprocess.run(show, capture_output=True, text=True, timeout=120).stdout
    holder = ResultsFolder(root, resume=True)  # as a search resuming there would hold it
    try:
        shown = subprocess.run(show, capture_output=True, text=True, timeout=120).stdout
    finally:
        holder.release()
    assert re.search(rf"^running: 8 of 8 trials done: .*\(follow it: launch.py show {re.escape(str(root))} --watch\)$",
                     shown, re.M), shown  # fmt: skip


def test_show_watch_on_a_finished_or_missing_search(tmp_path):
    folder = ResultsFolder(tmp_path / "held", resume=False)  # a search holding its folder
    assert held(tmp_path / "held")
    folder.release()
    assert not held(tmp_path / "held")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "show", str(tmp_path / "nothing"), "--watch"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "is not a results folder (no trials.jsonl) and no search is running there" in proc.stderr
