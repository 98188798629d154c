"""Prepared datasets: ``launch.py prepare`` into shards, ``--dataset shards:DIR``, and the memory-mapped reader.

Run as users run them: the CLI in a subprocess on a local Ray runtime, real image files (JPEG, PNG, CMYK,
EXIF-rotated, palette, 16-bit, and one broken file), a kill (SIGKILL of the prepare's process group)
mid-way and the same command again, a search over the shards through Ray and its export.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nas.data as nas_data
from nas.data import DataError, apply_steps, load_dataset, synthetic
from nas.data.prepare import Options, prepare
from nas.data.shards import Manifest, ShardImages, batches

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = [sys.executable, str(ROOT / "launch.py")]


def run(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*LAUNCH, *args], capture_output=True, text=True, timeout=timeout, **kw)


def awkward_folder(root: Path) -> dict[str, Path]:
    """Three classes of JPEGs, plus the files that trip readers up; returns those files by kind."""
    rng = np.random.default_rng(0)
    for c in ("ant", "bee", "cat"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (40 + i, 56, 3), dtype=np.uint8)).save(root / c / f"{i}.jpg")
    odd = {
        "grey": root / "ant" / "grey.png",
        "rgba": root / "ant" / "rgba.png",
        "cmyk": root / "bee" / "cmyk.jpg",
        "rotated": root / "bee" / "rotated.jpg",
        "palette": root / "cat" / "palette.png",
        "deep": root / "cat" / "deep.png",
        "broken": root / "cat" / "broken.jpg",
    }
    Image.new("L", (30, 30), 100).save(odd["grey"])
    Image.new("RGBA", (30, 30), (10, 200, 30, 0)).save(odd["rgba"])
    Image.new("CMYK", (30, 30), (0, 255, 0, 0)).save(odd["cmyk"])
    wide = Image.new("RGB", (64, 32), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 32, 32))  # left half blue, right half red
    exif = wide.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view": the viewer sees blue on top, red below
    wide.save(odd["rotated"], exif=exif, quality=98)
    pal = Image.new("P", (30, 30))
    pal.putpalette([0, 0, 0, 250, 250, 250] * 128)
    pal.info["transparency"] = 0
    pal.save(odd["palette"])
    Image.fromarray(np.arange(900, dtype=np.uint16).reshape(30, 30) * 60).save(odd["deep"])
    odd["broken"].write_bytes(b"this is not a jpeg")
    return odd


def shard_images(folder: Path, m: Manifest, split: str) -> np.ndarray:
    return np.concatenate([np.load(folder / s.images) for s in m.splits[split]])


def shard_labels(folder: Path, m: Manifest, split: str) -> np.ndarray:
    return np.concatenate([np.load(folder / s.labels) for s in m.splits[split]])


@pytest.mark.timeout(600)
def test_prepare_an_image_folder_with_awkward_files_then_search_and_export_from_the_shards(tmp_path):
    odd = awkward_folder(tmp_path / "photos")
    out = tmp_path / "prepared"
    proc = run("prepare", str(tmp_path / "photos"), "--image-size", "16", "--out", str(out), "--shard-size", "5",
               "--workers", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the broken file: one line naming it, listed in the manifest; every other file is in the shards
    lines = [line for line in proc.stderr.splitlines() if line.startswith("skipped ")]
    assert len(lines) == 1 and str(odd["broken"]) in lines[0], proc.stderr
    m = Manifest.read(out)
    assert [s["file"] for s in m.skipped] == [str(odd["broken"])]
    assert m.classes == ("ant", "bee", "cat") and m.shape == (3, 16, 16)
    assert m.count("train") + m.count("test") == 18 + 6  # 24 files, one broken
    assert not (out / ".prepare").exists()
    # the shards hold exactly what the manifest's steps make of each file, in order, with its label
    listing = nas_data.imagefolder.list_folder(str(tmp_path / "photos"))
    readable = {str(p): c for p, c in listing.train if p != odd["broken"]}
    images = np.concatenate([shard_images(out, m, s) for s in ("train", "test")])
    labels = np.concatenate([shard_labels(out, m, s) for s in ("train", "test")])
    by_image = {images[i].tobytes(): labels[i] for i in range(len(images))}
    for path, label in readable.items():
        x = apply_steps(path, m.steps)
        assert x.shape == (3, 16, 16) and x.dtype == np.uint8
        assert by_image.get(x.tobytes()) == label, path
    # awkward files as Pillow converts them: EXIF rotation undone, CMYK/grey/RGBA/palette/16-bit made RGB
    rotated = apply_steps(odd["rotated"], m.steps)
    top, bottom = rotated[:, :6].reshape(3, -1).mean(1), rotated[:, -6:].reshape(3, -1).mean(1)
    assert top[2] > 200 > top[0] and bottom[0] > 200 > bottom[2], (top, bottom)  # blue on top, red below
    assert np.all(apply_steps(odd["grey"], m.steps) == 100)
    assert tuple(apply_steps(odd["rgba"], m.steps)[:, 8, 8]) == (10, 200, 30)
    cmyk = apply_steps(odd["cmyk"], m.steps)[:, 8, 8]
    assert cmyk[1] < 30 and cmyk[0] > 200 and cmyk[2] > 200, cmyk  # magenta ink: red and blue light
    # checksums match the files
    for s in m.splits["train"]:
        assert hashlib.sha256((out / s.images).read_bytes()).hexdigest() == s.sha256

    # a search over the shards through Ray (the trials map the shards in Ray's workers), and exported
    results = tmp_path / "results"
    search = ["search", "--dataset", f"shards:{out}", "--trials", "2", "--epochs", "2",
              "--results-dir", str(results), "--name", "shards"]  # fmt: skip
    proc = run(*search)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (results / "shards" / "trials.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and {r["status"] for r in rows} <= {"ok", "duplicate"}, [r.get("error") for r in rows]
    info = json.loads((results / "shards" / "data.json").read_text())
    assert info["name"] == f"shards:{out}"
    proc = run("export", str(results / "shards"), "--out", str(tmp_path / "export"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    prep = json.loads((tmp_path / "export" / "preprocessing.json").read_text())
    assert prep["steps"][: len(m.steps)] == list(m.steps) and prep["classes"] == list(m.classes)
    assert prep["mean"] == pytest.approx(list(m.mean)) and prep["std"] == pytest.approx(list(m.std))


@pytest.mark.timeout(600)
def test_a_killed_prepare_resumes_where_it_stopped_and_writes_what_an_uninterrupted_one_does(tmp_path):
    spec = ["synthetic:3x64x64:10:12000", "--image-size", "64", "--shard-size", "250", "--workers", "1"]  # no Ray
    out = tmp_path / "killed"
    proc = subprocess.Popen([*LAUNCH, "prepare", *spec, "--out", str(out)], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    state = out / ".prepare"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(state.glob("*-*.json"))) < 4:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the prepare and everything it started in its session
    proc.wait()
    done = sorted(p.stem for p in state.glob("*-*.json"))
    assert 4 <= len(done) < 58 and not (out / "manifest.json").exists()  # killed mid-way: no manifest yet
    kept = {name: (out / f"{name}.x.npy").stat() for name in done}
    again = run("prepare", *spec, "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming: {len(done)} of 58 shards already written" in again.stderr
    for name, st in kept.items():  # what was written before the kill was not written again
        now = (out / f"{name}.x.npy").stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), name
    m = Manifest.read(out)
    assert m.count("train") == 12000 and m.count("test") == 2400 and not (out / ".prepare").exists()
    for split, start in (("train", 0), ("test", 12000)):  # each shard as an uninterrupted run writes it
        for k, shard in enumerate(m.splits[split]):
            x, _ = synthetic.images(3, 64, 64, 10, start + 250 * k, start + 250 * k + shard.count)
            buf = io.BytesIO()
            np.save(buf, x.numpy())
            assert hashlib.sha256(buf.getvalue()).hexdigest() == shard.sha256, shard
    # the same command once more: nothing to do; other arguments on the same folder: refused in one line
    assert "already prepared" in run("prepare", *spec, "--out", str(out)).stderr
    other = run("prepare", "synthetic:3x64x64:10:500", "--image-size", "64", "--out", str(out))
    assert other.returncode == 2 and "another prepared dataset" in other.stderr and other.stderr.count("\n") == 1


def test_prepare_subsets_classes_and_images_per_class_with_a_seed(tmp_path):
    """NAS-style proxies (ImageNet16-120): K classes drawn with a seed, M training images each."""
    opts = Options("digits", 16, classes="4", per_class=30, seed=3)
    m = prepare(opts, tmp_path / "p", log=lambda line: None)
    again = prepare(Options("digits", 16, classes="4", per_class=30, seed=3), tmp_path / "q", log=lambda line: None)
    other = prepare(Options("digits", 16, classes="4", per_class=30, seed=4), tmp_path / "r", log=lambda line: None)
    assert m.num_classes == 4 and m.classes == again.classes and m.splits == again.splits
    assert other.classes != m.classes or other.splits != m.splits
    y = shard_labels(tmp_path / "p", m, "train")
    assert np.bincount(y).tolist() == [30] * 4  # relabelled 0..3, 30 each
    test_y = shard_labels(tmp_path / "p", m, "test")
    assert set(test_y.tolist()) == {0, 1, 2, 3} and len(test_y) > 4 * 30 * 0.2  # every test image of the 4
    named = prepare(Options("digits", 8, classes="3,7"), tmp_path / "n", log=lambda line: None)
    assert named.classes == ("3", "7")
    with pytest.raises(DataError, match="no class '11'"):
        prepare(Options("digits", 8, classes="3,11"), tmp_path / "bad", log=lambda line: None)
    assert not (tmp_path / "bad").exists()  # bad input leaves nothing behind


def test_shards_of_digits_split_like_the_in_memory_digits_and_train_from_the_maps(tmp_path):
    prepare(Options("digits", 8, shard_size=100), tmp_path / "d", log=lambda line: None)
    mem = load_dataset("digits", val_fraction=0.3, seed=5)
    mapped = load_dataset(f"shards:{tmp_path / 'd'}", val_fraction=0.3, seed=5)
    assert mapped.mapped and not mem.mapped
    for split in ("train", "val", "test"):  # the same images in the same order, the same labels
        assert torch.equal(getattr(mapped, f"{split}_y"), getattr(mem, f"{split}_y")), split
        assert torch.equal(getattr(mapped, f"{split}_x")[:], getattr(mem, f"{split}_x")), split
    assert len(pickle.dumps(mapped)) < 60_000  # file names and indices: nothing of the images travels
    limited = load_dataset(f"shards:{tmp_path / 'd'}", limit=300, seed=1)
    assert len(limited.train_x) + len(limited.val_x) == 300
    with pytest.raises(DataError, match="prepared at 8 px"):
        load_dataset(f"shards:{tmp_path / 'd'}", image_size=16)

    import searchspace as ss
    from nas.trial.train import TrainConfig, train_trial

    space = ss.SearchSpace(ops=("conv", "sepconv"), wirings=("chain",), widths=(16,), stages=(2, 2), nodes=(1, 2))
    g = space.sample(random.Random(0))
    cfg = TrainConfig(epochs=4, latency=False)
    streamed = train_trial(g, mapped, cfg, seed=2)
    resident = train_trial(g, mem, cfg, seed=2)
    assert streamed.status == resident.status == "ok", (streamed.metrics, resident.metrics)
    assert streamed.metrics["val_acc"] > 0.5 and resident.metrics["val_acc"] > 0.5
    assert abs(streamed.metrics["val_acc"] - resident.metrics["val_acc"]) < 0.2


def test_shard_images_index_like_the_concatenated_arrays(tmp_path):
    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 255, (n, 2, 3, 3), dtype=np.uint8) for n in (7, 1, 12)]
    from nas.data.shards import Shard

    shards = []
    for k, part in enumerate(parts):
        np.save(tmp_path / f"s{k}.npy", part)
        shards.append(Shard(f"s{k}.npy", "", len(part)))
    whole = np.concatenate(parts)
    x = ShardImages(tmp_path, shards, (2, 3, 3))
    assert x.shape == (20, 2, 3, 3) and len(x) == 20 and x.dtype == torch.uint8 and x.dim() == 4
    idx = rng.permutation(20)[:11]
    assert np.array_equal(x[idx].numpy(), whole[idx])
    assert np.array_equal(x[3:15].numpy(), whole[3:15]) and np.array_equal(x[19].numpy(), whole[19])
    assert np.array_equal(x.index_select(0, torch.tensor([19, 0, 7])).numpy(), whole[[19, 0, 7]])
    sub = x.subset(np.array([5, 7, 8, 19]))
    assert np.array_equal(sub[np.array([3, 0])].numpy(), whole[[19, 5]])
    back = pickle.loads(pickle.dumps(sub))  # noqa: S301 -- our own object; maps reopen in the process that unpickles
    assert np.array_equal(back[:].numpy(), whole[[5, 7, 8, 19]])
    order = torch.from_numpy(rng.permutation(20))
    got = torch.cat(list(batches(x, order, 6)))
    assert np.array_equal(got.numpy(), whole[order.numpy()])


def test_a_node_local_cache_copies_each_shard_once_by_its_checksum(tmp_path, monkeypatch):
    prepare(Options("digits", 8, shard_size=500), tmp_path / "nfs", log=lambda line: None)
    monkeypatch.setenv("NASGRAPH_SHARD_CACHE", str(tmp_path / "cache"))
    m = Manifest.read(tmp_path / "nfs")
    x = load_dataset(f"shards:{tmp_path / 'nfs'}").train_x
    first = x[:10]
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert cached == sorted(f"{s.sha256}.npy" for s in m.splits["train"])  # each train shard, by its SHA-256
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()}
    for shard in m.splits["train"]:
        (tmp_path / "nfs" / shard.images).unlink()  # from now on only the cache can answer
    again = load_dataset(f"shards:{tmp_path / 'nfs'}").train_x
    assert torch.equal(again[:10], first)
    assert mtimes == {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()}  # not copied twice


def test_an_image_folder_too_big_for_memory_is_refused_before_decoding_naming_prepare(tmp_path, monkeypatch):
    awkward_folder(tmp_path / "photos")
    monkeypatch.setattr(nas_data.imagefolder, "available_memory", lambda: 10_000)
    with pytest.raises(DataError, match=r"launch.py prepare .*photos --image-size 64 --out DIR"):
        load_dataset(f"imagefolder:{tmp_path / 'photos'}", image_size=64)


def test_an_in_memory_dataset_over_half_the_object_store_is_refused_naming_prepare():
    from nas.engines.ray_tune import over_object_store

    data = load_dataset("digits")
    need = data.nbytes()
    assert over_object_store(data, 2 * need + 1) == ""
    message = over_object_store(data, 2 * need - 1)
    assert "launch.py prepare digits" in message and "--dataset shards:DIR" in message and "\n" not in message


def test_a_long_trial_says_each_epoch_where_it_is_and_when_it_ends():
    from nas.driver.ledger import Ledger
    from nas.driver.progress import EPOCH_LINES_AFTER, Progress

    lines: list[str] = []
    p = Progress(10, Ledger({"val_acc": "max"}), lines.append)
    metrics = {"epochs": 2, "val_acc": 0.41234, "images_per_second": 850.4}
    p.epoch("00003", metrics, 6, EPOCH_LINES_AFTER / 2)  # a short trial: quiet
    p.epoch("00003", metrics | {"epochs": 6}, 6, 100.0)  # its last epoch: the trial's own line follows
    assert lines == []
    p.epoch("00003", metrics, 6, 40.0)
    assert lines == ["  00003 epoch 2/6  val 0.412  850 images/s  0:40 so far, ends in ~1:20"]


def test_a_long_trial_notes_where_it_is_inside_its_epochs(monkeypatch):
    """The built-in trainer's notes inside the epochs (a 1-epoch trial on a large set said nothing for 15 min)."""
    import searchspace as ss
    from nas.driver.ledger import Ledger
    from nas.driver.progress import Progress
    from nas.trial import train

    monkeypatch.setattr(train, "PROGRESS_EVERY", 0.0)  # a note every step, instead of every 10 s
    space = ss.SearchSpace(ops=("conv",), wirings=("chain",), widths=(16,), stages=(2, 2), nodes=(1, 1))
    notes: list[dict] = []
    data = load_dataset("digits")
    result = train.train_trial(space.sample(random.Random(0)), data, train.TrainConfig(epochs=2, latency=False),
                               progress=notes.append)  # fmt: skip
    steps = len(data.train_x) // 64  # digits' auto batch: 64
    assert result.status == "ok" and len(notes) == 2 * steps
    assert [(n["epoch"], n["step"]) for n in notes[:2]] == [(1, 1), (1, 2)] and notes[-1]["step"] == steps
    assert all(n["epochs"] == 2 and n["steps"] == steps and n["images_per_second"] > 0 for n in notes)
    lines: list[str] = []
    Progress(10, Ledger({"val_acc": "max"}), lines.append).note("00007", notes[0] | {"seconds": 30.0})
    assert lines[0].startswith(f"  00007 epoch 1/2 step 1/{steps}  ") and lines[0].endswith(
        f"0:30 training so far, ends in ~{_duration(30.0 * (2 * steps - 1))}"
    )


def _duration(seconds: float) -> str:
    from nas.human import duration

    return duration(seconds)


def test_shard_images_refuse_what_a_tensor_refuses(tmp_path):
    from nas.data.shards import Shard

    np.save(tmp_path / "s.npy", np.arange(4 * 2, dtype=np.uint8).reshape(4, 2, 1, 1))
    x = ShardImages(tmp_path, [Shard("s.npy", "", 4)], (2, 1, 1))
    with pytest.raises(IndexError):
        x[4]
    assert torch.equal(x[-1], x[3]) and torch.equal(x[torch.tensor(2)], x[2])
    assert np.array_equal(x[np.array([True, False, False, True])].numpy(), x[[0, 3]].numpy())
    with pytest.raises(IndexError):
        x[np.array([0, 9])]
    short = ShardImages(tmp_path, [Shard("s.npy", "", 5)], (2, 1, 1))  # the manifest says 5, the file holds 4
    with pytest.raises(DataError, match="holds 4 images, the manifest 5"):
        short[0]


@pytest.mark.parametrize(
    ("options", "workers", "message"),
    [
        (Options("digits", 8, classes=","), 0, "at least 2"),
        (Options("digits", 8, classes="1"), 0, "keep between 2 and 10"),
        (Options("digits", 8, classes="4,4"), 0, "at least 2"),
        (Options("digits", 8, classes="4", seed=-1), 0, "--seed must be an integer >= 0"),
        (Options("digits", 8), -1, "--workers must be an integer >= 0"),
        (Options("nosuch", 8), 0, "unknown dataset 'nosuch'"),
    ],
)
def test_bad_prepare_arguments_are_one_line_and_leave_no_folder(tmp_path, options, workers, message):
    with pytest.raises(DataError, match=message) as info:
        prepare(options, tmp_path / "out", workers=workers, log=lambda line: None)
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()


def test_a_new_search_saves_the_stem_its_input_size_chose_and_an_old_config_resumes_with_its_own(tmp_path):
    import nas
    from nas.config import SearchConfig

    search = nas.Search(
        {"dataset": "synthetic:3x40x40:4:80", "trials": 1, "engine": "local", "report_every": 0,
         "space": {"ops": ["conv"], "wirings": ["chain"], "widths": [8], "stages": [1, 1], "nodes": [1, 1]},
         "train": {"epochs": 1, "latency": False}},
        results_dir=tmp_path, progress=False,
    )  # fmt: skip
    search.run()
    saved = json.loads((search.root / "config.json").read_text())["space"]
    assert (saved["stem_kernel"], saved["stem_stride"]) == (3, 2)  # 40 px: to 20 px before stage 1
    from nas.config import make_space
    from nas.record.folder import DataInfo

    info = DataInfo(3, 4, (40, 40), "synthetic")
    old = SearchConfig.from_saved({"space": {"widths": [8]}})  # a config.json from before: a 3x3 stride-1 stem
    assert (make_space(old, info, saved=True).stem_stride, make_space(old, info).stem_stride) == (1, 2)
    resumed = nas.Search.resume(search.root)  # the saved stem, not derived again
    assert (resumed.cfg.space["stem_kernel"], resumed.cfg.space["stem_stride"]) == (3, 2)


PLUGIN = """
import numpy as np
import nas


def stripes(data_dir):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (120, 3, 12, 12), dtype=np.uint8)
    y = np.arange(120) % 3
    x[y == 1, :, ::2] += 150  # horizontal stripes
    x[y == 2, :, :, ::2] += 150  # vertical stripes
    return {"train": (x[:90], y[:90]), "test": (x[90:], y[90:])}


nas.register_dataset("stripes", stripes)
"""


def test_a_plugins_dataset_prepares_from_the_command_line(tmp_path):
    (tmp_path / "plugin.py").write_text(PLUGIN)
    out = tmp_path / "stripes-16"
    proc = run("prepare", "stripes", "--plugin", str(tmp_path / "plugin.py"), "--image-size", "16", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = Manifest.read(out)
    assert (m.count("train"), m.count("test"), m.shape, m.num_classes) == (90, 30, (3, 16, 16), 3)
    assert m.steps[-1]["op"] == "resize" and m.steps[-1]["size"] == [16, 16]  # 12 -> 16, a step of its own
    y = shard_labels(out, m, "train")
    assert np.array_equal(np.sort(y), np.sort(np.arange(120)[:90] % 3))
