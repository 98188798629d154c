"""Trial training on the real digits data: accuracy, failures as results, augmentation, schedule."""

import math

import pytest
import torch

import searchspace as ss
from nas.data import load_dataset
from nas.trial.train import TrainConfig, _lr_lambda, augment, random_crop, train_trial
from searchspace import wirings
from searchspace.genotype import Genotype, Head, Stage


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def small_net() -> Genotype:
    stem = Stage(16, (ss.node("conv"),))
    s1 = wirings.make_stage("residual", [ss.node("conv"), ss.node("sepconv")], 32, 2)
    return Genotype(stem, (s1,), Head())


def test_a_few_epochs_on_digits_reach_a_sane_accuracy(digits):
    epochs = []
    result = train_trial(small_net(), digits, TrainConfig(epochs=4, threads=1), seed=0, report=epochs.append)
    m = result.metrics
    assert result.status == "ok", m
    assert m["val_acc"] > 0.85 and m["test_acc"] > 0.85  # chance is 0.10
    assert [e["epochs"] for e in epochs] == [1, 2, 3, 4]
    assert m["params"] == ss.count_params(small_net(), 1, 10) and m["flops"] > 0
    assert m["images_per_second"] > 0 and m["train_seconds"] > 0 and m["peak_memory_mb"] > 0
    assert set(result.state_dict) == set(ss.build(small_net(), 1, 10).state_dict())


def test_returned_weights_reproduce_the_reported_test_accuracy(digits):
    result = train_trial(small_net(), digits, TrainConfig(epochs=2, threads=1), seed=1)
    model = ss.build(small_net(), 1, 10)
    model.load_state_dict(result.state_dict)
    model.eval()
    mean = torch.tensor(digits.mean).view(1, -1, 1, 1)
    std = torch.tensor(digits.std).view(1, -1, 1, 1)
    with torch.no_grad():
        pred = model((digits.test_x.float() / 255 - mean) / std).argmax(1)
    acc = (pred == digits.test_y).float().mean().item()
    assert acc == pytest.approx(result.metrics["test_acc"], abs=1e-6)


def test_same_seed_same_run(digits):
    cfg = TrainConfig(epochs=2, threads=1)
    a = train_trial(small_net(), digits, cfg, seed=3).metrics
    b = train_trial(small_net(), digits, cfg, seed=3).metrics
    assert a["val_loss"] == b["val_loss"] and a["train_loss"] == b["train_loss"]


@pytest.mark.parametrize(
    "fault, status, message",
    [
        ("nan", "diverged", "training loss nan in epoch 1"),
        ("oom", "oom", "out of memory"),
        ("raise", "error", "RuntimeError: injected failure"),
    ],
)
def test_failures_are_results_not_crashes(digits, fault, status, message):
    result = train_trial(small_net(), digits, TrainConfig(epochs=3, fault=fault), seed=0)
    assert result.status == status
    assert message in result.metrics["error"]
    assert result.state_dict is None


def test_a_genotype_that_does_not_fit_the_input_is_invalid(digits):
    pool = ss.node("maxpool", kernel=2, padding=0)
    g = Genotype(Stage(8, (ss.node("conv"),)), tuple(Stage(8, (pool,), stride=2) for _ in range(5)), Head())
    result = train_trial(g, digits, TrainConfig(epochs=1), seed=0)
    assert result.status == "invalid" and "below 1 pixel" in result.metrics["error"]


def test_time_limit_gives_timeout_with_partial_metrics(digits):
    result = train_trial(small_net(), digits, TrainConfig(epochs=50, max_seconds=0.5, batch_size=16), seed=0)
    assert result.status == "timeout"
    assert result.metrics["epochs"] < 50 and "limit" in result.metrics["error"]


def test_random_crop_matches_a_per_image_reference():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (50, 3, 7, 9), dtype=torch.uint8)
    out = random_crop(x, 2, gen)
    gen.manual_seed(0)
    dy = torch.randint(0, 5, (50, 1, 1, 1), generator=gen).flatten()
    dx = torch.randint(0, 5, (50, 1, 1, 1), generator=gen).flatten()
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(50):
        ref = padded[i, :, dy[i] : dy[i] + 7, dx[i] : dx[i] + 9]
        assert torch.equal(out[i], ref)
    assert out.dtype == torch.uint8 and out.shape == x.shape


def test_augment_flips_only_where_the_dataset_allows(digits):
    gen = torch.Generator().manual_seed(0)
    x = digits.train_x[:200]
    out = augment(x, digits, gen)
    assert not digits.flip
    # crop only: every output row is some shifted copy; no image equals its left-right mirror by accident
    assert out.shape == x.shape and out.dtype == torch.uint8


def test_one_cycle_and_cosine_schedules():
    one = _lr_lambda(TrainConfig(schedule="onecycle", warmup=0.25), 100)
    cos = _lr_lambda(TrainConfig(schedule="cosine", warmup=0.1), 100)
    assert one(0) == pytest.approx(1 / 25) and one(24) == pytest.approx(1.0) and one(99) < 0.02
    assert max(one(s) for s in range(100)) == pytest.approx(1.0)
    assert cos(9) == pytest.approx(1.0) and cos(99) < 0.01
    assert all(one(s) >= one(s + 1) for s in range(25, 99))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"schedule": "step"}, "schedule must be one of"),
        ({"lr": math.inf}, "lr must be a positive number"),
        ({"fault": "fire"}, "fault must be one of"),
    ],
)
def test_train_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_a_cuda_index_past_the_last_gpu_is_refused(monkeypatch):
    """On a one-GPU machine cuda:1 was accepted (only is_available() was checked) and failed inside every trial."""
    from nas.trial.train import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match=r"'cuda:1' requested but this machine has 1 CUDA device\(s\) \(cuda:0\)"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert resolve_device("cuda:3") == torch.device("cuda:3")
    with pytest.raises(ValueError, match=r"cuda:0 \.\. cuda:3"):
        resolve_device("cuda:4")


def test_a_trial_on_the_cpu_records_no_resident_gpu_memory(digits):
    m = train_trial(small_net(), digits, TrainConfig(epochs=1, threads=1, keep_weights=False), seed=0).metrics
    assert "resident_memory_mb" not in m and m["peak_memory_mb"] > 0  # CUDA only; on the CPU the peak is RSS


def test_a_cuda_device_comes_with_its_index(monkeypatch):
    """Found preparing the first GPU run: with --gpus-per-trial 0.25 every trial would fail, because the memory
    cap (torch.cuda.set_per_process_memory_fraction) refuses the index-less torch.device("cuda") it was given."""
    from torch.cuda._utils import _get_device_index

    from nas.trial.train import resolve_device

    with pytest.raises(ValueError, match="specified index"):
        _get_device_index(torch.device("cuda"))  # what the memory cap does with its device argument
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    for name in ("auto", "cuda"):
        device = resolve_device(name)
        assert device == torch.device("cuda:1") and _get_device_index(device) == 1
    assert resolve_device("cuda:0") == torch.device("cuda:0")


def test_bf16_on_the_cpu_only_where_the_cpu_has_it_and_the_network_is_big_enough(monkeypatch):
    from nas.trial import train

    cfg = TrainConfig(cpu_bf16_mflops=2.0)
    cpu = torch.device("cpu")
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: True)
    assert train.uses_bf16(cfg, cpu, 3_000_000) and not train.uses_bf16(cfg, cpu, 1_000_000)
    assert not train.uses_bf16(TrainConfig(bf16=False), cpu, 10**9)
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: False)
    assert not train.uses_bf16(cfg, cpu, 10**9)
    assert train.uses_bf16(cfg, torch.device("cuda", 0), 0)  # CUDA: always (its own ceiling, BENCHMARKS.md 6)


def test_bf16_autocast_and_channels_last_on_the_cpu_reach_the_fp32_accuracy(digits, monkeypatch):
    from nas.trial import train

    monkeypatch.setattr(train, "cpu_has_bf16", lambda: True)  # (emulated where the CPU lacks it: same numbers)
    forced = TrainConfig(epochs=4, threads=1, cpu_bf16_mflops=0.0)
    seen = []
    real = train._Run.__init__

    def spy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        seen.append((self.amp, self.fmt))

    monkeypatch.setattr(train._Run, "__init__", spy)
    result = train_trial(small_net(), digits, forced, seed=0)
    assert seen == [(True, torch.channels_last)]  # it did train in bf16, NHWC
    assert result.status == "ok" and result.metrics["val_acc"] > 0.85  # fp32 reaches > 0.85 too (test above)
    assert all(v.dtype == torch.float32 for v in result.state_dict.values() if v.is_floating_point())


@pytest.fixture(scope="module")
def few_digits():
    return load_dataset("digits", limit=200)


@pytest.mark.parametrize("op", ss.registry.names())
def test_every_op_trains_under_cpu_bf16_autocast(op, few_digits, monkeypatch):
    import random

    from nas.trial import train

    monkeypatch.setattr(train, "cpu_has_bf16", lambda: True)
    ops = tuple(dict.fromkeys((op, "conv")))  # conv where `op` cannot downsample by itself
    space = ss.SearchSpace(in_channels=1, input_size=8, widths=(8,), stages=(1, 1), nodes=(1, 2), ops=ops)
    rng = random.Random(0)
    g = next(
        g for g in (space.sample(rng) for _ in range(200)) if op in {n.op for s in g.all_stages() for n in s.nodes}
    )
    result = train_trial(g, few_digits, TrainConfig(epochs=1, threads=1, cpu_bf16_mflops=0.0, batch_size=32), seed=0)
    assert result.status == "ok", result.metrics.get("error")
    assert math.isfinite(result.metrics["train_loss"])
