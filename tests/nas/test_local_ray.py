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
