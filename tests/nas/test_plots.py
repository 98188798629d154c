"""Tests for nas.report.plots and nas.report.html on results folders written by real (tiny) searches."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import pytest

from nas.cli import main
from nas.human import si
from nas.record import results
from nas.record.jsonl import Record
from nas.report import html as html_report
from nas.report import plots

FIGURES = ("accuracy_vs_params", "accuracy_vs_flops", "best_so_far", "accuracy_vs_latency")  # trials record latency
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two real searches: a (evolution, seeded with a zoo net) and b (random)."""
    tmp = tmp_path_factory.mktemp("results")
    common = ["search", "--engine", "local", "--trials", "6", "--epochs", "1", "--limit", "300", "--latency"]
    assert main([*common, "--results-dir", str(tmp), "--name", "a", "--init", "highway_cnn"]) == 0
    assert main([*common, "--results-dir", str(tmp), "--name", "b", "--controller", "random"]) == 0
    return tmp


def check_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4), (path, image.shape)
    assert 300 <= image.shape[0] <= 6000 and 400 <= image.shape[1] <= 6000, (path, image.shape)
    assert image.std() > 0.01, f"{path} is blank"


def check_svg(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    assert ET.fromstring(text.encode()).tag.endswith("svg"), path
    return text


def check_figures(out: Path, written: list[Path], architecture: str) -> None:
    stems = [*FIGURES, f"architecture_{architecture}"]
    assert sorted(written) == sorted(out / f"{s}.{fmt}" for s in stems for fmt in ("png", "svg"))
    for path in written:
        assert path.stat().st_size > 1000, path
        check_png(path) if path.suffix == ".png" else check_svg(path)


# ----------------------------------------------------------------------------- figures


def test_one_search_writes_every_figure_for_its_best_trial(root: Path, tmp_path: Path) -> None:
    best = results.best(results.load(root / "a"))
    written = plots.plot_results(root / "a", tmp_path)
    check_figures(tmp_path, written, best["trial_id"])
    scatter = (tmp_path / "accuracy_vs_params.svg").read_text()
    assert "highway_cnn" in scatter, "the zoo seed is labelled"
    assert "Pareto front" in scatter and "a (evolution)" in scatter
    assert f"{best['val_acc']:.1%}" in (tmp_path / f"architecture_{best['trial_id']}.svg").read_text()


def test_several_searches_in_one_figure(root: Path, tmp_path: Path) -> None:
    written = plots.plot_results([root / "a", root / "b"], tmp_path, trial="b:00002")
    check_figures(tmp_path, written, "b-00002")
    for stem in FIGURES:
        text = (tmp_path / f"{stem}.svg").read_text()
        assert "a (evolution)" in text and "b (random)" in text, stem


def test_a_folder_of_searches_is_every_search_in_it(root: Path, tmp_path: Path) -> None:
    assert [s.name for s in plots.load_searches(root)] == ["a", "b"]
    written = plots.plot_results(root, tmp_path, trial="best", formats=("png",))
    assert {p.suffix for p in written} == {".png"} and len(written) == 5


def test_a_chosen_trial_is_drawn(root: Path, tmp_path: Path) -> None:
    df = results.load(root / "b")
    trial_id = df["trial_id"].iloc[-1]
    written = plots.plot_results(root / "b", tmp_path, trial=trial_id, formats=("svg",))
    assert tmp_path / f"architecture_{trial_id}.svg" in written
    assert f"trial {trial_id}" in (tmp_path / f"architecture_{trial_id}.svg").read_text()


@pytest.mark.parametrize(
    ("trial", "message"),
    [("99999", "no trial '99999'"), ("00001", "in several searches"), ("c:00001", "no trial 'c:00001'")],
)
def test_unknown_or_ambiguous_trials_are_errors(root: Path, tmp_path: Path, trial: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plots.plot_results([root / "a", root / "b"], tmp_path, trial=trial)
    assert not list(tmp_path.iterdir()), "nothing is written before the error"


def test_missing_results_and_no_ok_trials_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no results at"):
        plots.plot_results(tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ValueError, match="no results at"):
        plots.plot_results(tmp_path, tmp_path / "out")  # an empty folder
    with Record.open(tmp_path / "failed") as record:
        record.append({"trial_id": "00001", "status": "oom", "error": "CUDA out of memory", "params": 10})
    with pytest.raises(ValueError, match="no ok trials.*1 oom"):
        plots.plot_results(tmp_path / "failed", tmp_path / "out")
    with pytest.raises(ValueError, match="no ok trials"):
        html_report.write_report(tmp_path / "failed")


def test_unknown_format_is_an_error(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="formats must be"):
        plots.plot_results(root / "a", tmp_path, formats=("png", "gif89"))


def test_si_counts() -> None:
    assert [si(v) for v in (950, 27095, 1_357_404, 2.5e9, 999_999)] == ["950", "27.1k", "1.36M", "2.5G", "1M"]


# ----------------------------------------------------------------------------- html report


def self_contained(text: str) -> None:
    lowered = text.lower()
    for needle in ('src="http', "src='http", "<script", "<link", "@import", "url(http"):
        assert needle not in lowered, needle


def test_report_of_one_search(root: Path) -> None:
    path = html_report.write_report(root / "a")
    assert path == root / "a" / "report.html"
    text = path.read_text(encoding="utf-8")
    self_contained(text)
    df = results.load(root / "a")
    front = results.pareto_front(df)
    for _, row in front.iterrows():
        for value in (row["trial_id"], f"{int(row['params']):,}", f"{row['val_acc']:.2%}", f"{row['test_acc']:.2%}"):
            assert f">{value}" in text, value
    assert text.count("<svg") == 3 + min(len(front), html_report.MAX_ARCHITECTURES)  # params, best so far, latency
    assert "<h2>Accuracy vs latency</h2>" in text
    assert ">digits<" in text and ">evolution<" in text
    assert not [p for p in (root / "a").iterdir() if p.name.endswith(".tmp")], "temp file left behind"


def test_report_compares_searches_by_hypervolume(root: Path, tmp_path: Path) -> None:
    path = html_report.write_report(root, tmp_path / "both.html")
    text = path.read_text(encoding="utf-8")
    self_contained(text)
    df = results.load([root / "a", root / "b"])
    ref = [0.0, float(df.loc[df["status"] == "ok", "params"].max()) * 1.1]
    for name in ("a", "b"):
        hv = results.hypervolume(df[df["search"] == name], ref)
        assert hv > 0 and f">{hv:.4g}<" in text, name
    assert "<h2>Search a</h2>" in text and "<h2>Search b</h2>" in text


def test_report_escapes_what_the_record_says(root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "hostile"
    shutil.copytree(root / "a", copy)
    with Record.open(copy) as record:
        record.append({"trial_id": "<b>x</b>", "status": "error", "error": HOSTILE, "controller": "evolution"})
    text = html_report.write_report(copy).read_text(encoding="utf-8")
    self_contained(text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text
    assert "1 error" in text, "the failed trial is counted in the summary"
