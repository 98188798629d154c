"""A local Ray runtime, as every search without --address starts one: token authentication on, quietly.

Ray 2.60 turns token authentication on for a new local runtime and warns on each run that it did; the
warning read as a problem on a laptop. nasgraph picks the same mode explicitly (no warning) and makes
the token file Ray writes readable by its owner only.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import ray
from ray._raylet import AuthenticationMode, get_authentication_mode
from nas.engines.ray_tune import init_ray

init_ray(num_cpus=1)
print("token" if get_authentication_mode() == AuthenticationMode.TOKEN else "no token")
print(ray.get(ray.remote(lambda: 6 * 7).remote()))
ray.shutdown()
"""


def _run(home: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH_")}
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        env=base | {"HOME": str(home), "PYTHONPATH": str(ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_local_runtime_has_token_auth_without_rays_warning(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["token", "42"]
    assert "Token authentication" not in proc.stderr
    token = tmp_path / ".ray" / "auth_token"
    assert token.is_file() and stat.S_IMODE(token.stat().st_mode) == 0o600


def test_a_mode_the_user_chose_is_kept(tmp_path):
    proc = _run(tmp_path, RAY_AUTH_MODE="disabled")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["no token", "42"]


# ------------------------------------------------------------------ GPUs per trial


def _cfg(**options):
    from nas.config import SearchConfig

    train = {"device": options.pop("device")} if "device" in options else {}
    return SearchConfig.from_dict(options | {"train": train})


@pytest.mark.parametrize(
    "options, available, gpus, said",
    [
        ({}, 0.0, 0.0, None),  # a CPU machine: nothing to choose, nothing said
        ({"concurrency": 2}, 1.0, 0.5, "each of the 2 concurrent trials gets 0.5 GPU, 2 trials per GPU"),
        ({"concurrency": 2}, 4.0, 1.0, "gets 1 GPU (--gpus-per-trial chooses; --concurrency 4 would use them all)"),
        ({"concurrency": 3}, 2.0, 0.5, "gets 0.5 GPU, 2 trials per GPU"),
        ({"concurrency": 8}, 8.0, 1.0, "each of the 8 concurrent trials gets 1 GPU (--gpus-per-trial chooses)"),
        ({"device": "cpu"}, 2.0, 0.0, None),  # the user asked for the CPU
        ({"gpus_per_trial": 0.25}, 1.0, 0.25, None),  # chosen by the user: kept, nothing said
        ({"gpus_per_trial": 0.0, "device": "cpu"}, 1.0, 0.0, None),
        ({"gpus_per_trial": 0.0}, 1.0, 0.0, "but --gpus-per-trial 0 keeps the trials on the CPU"),  # an old search
        ({"gpus_per_trial": 2.0, "address": "head:6379"}, 1.0, 2.0, "trials wait until GPUs join"),  # a cluster grows
    ],
)
def test_gpus_per_trial_defaults_to_sharing_the_runtimes_gpus(options, available, gpus, said):
    from nas.engines.ray_tune import choose_gpus

    got, line = choose_gpus(_cfg(**options), available)
    assert got == gpus
    assert (line is None) if said is None else said in line


@pytest.mark.parametrize(
    "options, available, message",
    [
        ({"device": "cuda"}, 0.0, r"--device cuda: the Ray runtime has no GPU"),
        ({"device": "cuda:0", "gpus_per_trial": 0.0}, 1.0, r"--device cuda:0 with --gpus-per-trial 0: Ray hides"),
        ({"gpus_per_trial": 1.0}, 0.0, r"--gpus-per-trial 1: the Ray runtime has 0 GPUs"),
        ({"gpus_per_trial": 2.0}, 1.0, r"--gpus-per-trial 2: the Ray runtime has 1 GPUs"),
    ],
)
def test_cuda_without_a_gpu_for_the_trial_is_an_error_not_a_cpu_fallback(options, available, message):
    from nas.engines.ray_tune import choose_gpus
    from nas.errors import SearchError

    with pytest.raises(SearchError, match=message):
        choose_gpus(_cfg(**options), available)


def test_a_search_asking_for_a_gpu_the_runtime_lacks_stops_in_one_line_and_leaves_no_folder(tmp_path):
    """Through the CLI and a real local Ray runtime (this machine has no GPU)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "search", "--trials", "1", "--epochs", "1", "--gpus-per-trial", "1"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"} | {"CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: --gpus-per-trial 1: the Ray runtime has 0 GPUs now (`ray status` lists its resources)"]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())  # no results folder
