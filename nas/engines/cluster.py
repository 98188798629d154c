"""Joining a Ray cluster with Ray's token authentication -- without importing Ray.

Clusters that ``ray start --head`` makes (Ray 2.59 and later) require Ray's token whenever the head
has one (``~/.ray/auth_token``, which any earlier local ``ray.init()`` on that machine creates), but
a driver that joins with an address sends it only under ``RAY_AUTH_MODE=token``. `prefer_token_auth`
asks the cluster (a token-less request in a child process) whether it requires a token, and if so
turns that mode on, before Ray is imported, when the user has not chosen a mode and a token is at
hand in one of the places Ray's documentation names (``RAY_AUTH_TOKEN``, the file
``RAY_AUTH_TOKEN_PATH`` names, ``~/.ray/auth_token``). The token itself is never read out or printed.

Also without Ray, for the Ray engine (`nas.engines.ray_tune`): `held_stderr` holds back what Ray's C++ client
writes while it joins (read for the reason when the join fails), and `choose_gpus` shares the runtime's GPUs
among the concurrent trials.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from nas.errors import SearchError, last_line

if TYPE_CHECKING:
    from nas.config import SearchConfig

TOKEN_HELP = (
    "run `ray get-auth-token` on the head node and save what it prints to ~/.ray/auth_token on this machine "
    "(or set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH), then run again"
)


def auth_token_source() -> str | None:
    """Where Ray would find an authentication token for this process, or None (Ray's documented order)."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return "RAY_AUTH_TOKEN_PATH"
    try:
        return "~/.ray/auth_token" if (Path.home() / ".ray" / "auth_token").stat().st_size > 0 else None
    except OSError:
        return None


def check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast, in one line, on a HOST:PORT nobody answers at (ray.init would retry for minutes)."""
    if "://" in address or address in ("auto", "local"):
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError, OverflowError) as e:
        raise SearchError(
            f"--address {address}: no Ray cluster answers there ({e}); check the address printed by `ray start --head`"
        ) from None


_PROBE = """
import sys
try:
    from ray._raylet import GcsClient
    GcsClient(address=sys.argv[1]).internal_kv_get(b"nasgraph-probe", None, timeout=10)
    print("open")
except Exception as e:
    print("token" if type(e).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(e) else "other")
"""


@functools.lru_cache(maxsize=8)  # asked once per address: by the CLI before Ray is imported, then by the join
def cluster_requires_token(address: str) -> bool | None:
    """Ask the cluster's GCS for nothing, without a token, in a child process: True if it insists on a token,
    False if it answered, None if that could not be told (the join itself will then say what is wrong).

    A child process, because Ray reads ``RAY_AUTH_MODE`` once per process; about half a second.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH_")} | {"RAY_AUTH_MODE": "disabled"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, address], env=env, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    answer = last_line(proc.stdout)
    return {"token": True, "open": False}.get(answer)


def prefer_token_auth(address: str) -> str | None:
    """Send Ray's token to a cluster that requires one, when the user chose no ``RAY_AUTH_MODE``.

    Returns "token" (token mode turned on for this process and the processes it starts), "missing" (the
    cluster requires a token and none is at hand: the caller says so in one line), or None (nothing to
    do: a mode was chosen, the cluster needs no token, or it could not be told). A token is sent only to a
    cluster that asks for one: a driver in token mode on a cluster without it loses its actors.
    """
    if "RAY_AUTH_MODE" in os.environ or not cluster_requires_token(address):
        return None
    source = auth_token_source()
    if source is None:
        return "missing"
    token_mode()
    print(f"nasgraph: joining {address} with Ray's token authentication (token from {source})", file=sys.stderr)
    return "token"


def token_mode() -> None:
    """Turn Ray's token authentication on for this process and the processes it starts."""
    os.environ["RAY_AUTH_MODE"] = "token"
    if "ray" in sys.modules:  # imported already (the Python API, a test): Ray caches its config at import
        try:
            from ray._raylet import Config  # what Ray's own token setup calls after changing the mode

            Config.initialize("")
        except (ImportError, AttributeError):
            pass


def quiet_local_token() -> None:
    """A local runtime with token authentication, without Ray's warning about it on every run.

    Ray 2.60 turns token authentication on for a new local runtime when no ``RAY_AUTH_MODE`` is set, and
    warns each time that it did ("Set RAY_AUTH_MODE=disabled to opt out"), which reads as a problem on a
    laptop. Choosing the same mode explicitly keeps the protection and silences the warning; a mode the
    user set is kept as it is.
    """
    if "RAY_AUTH_MODE" not in os.environ:
        token_mode()


DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")  # where Ray 2.60 writes the token it generates


def private_token_file(existed: bool) -> None:
    """Ray writes the token it generates (~/.ray/auth_token) readable by every local user: make it the owner's.

    Only a file this run's ``ray.init`` created (``existed`` False): one the user made is left as it is."""
    path = DEFAULT_TOKEN_FILE.expanduser()
    with contextlib.suppress(OSError):
        info = path.stat()
        if not existed and info.st_uid == os.getuid() and info.st_mode & 0o077:
            path.chmod(0o600)


def missing_token_message(address: str) -> str:
    return f"--address {address}: the cluster requires Ray's token authentication and this machine has no token; {TOKEN_HELP}"


class Held:
    """What was written to file descriptor 2 inside `held_stderr`, once the block has ended."""

    def __init__(self) -> None:
        self.content = ""

    def text(self) -> str:
        return self.content


@contextmanager
def held_stderr() -> Iterator[Held]:
    """File descriptor 2 into a temporary file for the block (Ray's C++ logging writes there directly)."""
    held = Held()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(prefix="nasgraph-ray-") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield held
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            held.content = f.read().decode(errors="replace")


def choose_gpus(cfg: SearchConfig, available: float) -> tuple[float, str | None]:
    """GPUs per trial, and a line saying what was chosen when the user did not choose (None otherwise).

    Given ``--gpus-per-trial``, that is it. Not given: none for ``--device cpu`` or a runtime without GPUs;
    otherwise the runtime's GPUs shared evenly by the concurrent trials (1 GPU and ``--concurrency 2``: 0.5
    each, two trials packed on the GPU; 4 GPUs and 2 trials: 1 each). Ray hides the GPUs from a trial that
    reserves none, so a CUDA device with no GPU reserved, or no GPU in the runtime, is a SearchError here
    rather than trials that quietly train on the CPU.
    """
    device = cfg.train.device
    if cfg.gpus_per_trial is not None:
        gpus = float(cfg.gpus_per_trial)
        if gpus > available:
            have = f"the Ray runtime has {available:g} GPUs now (`ray status` lists its resources)"
            if cfg.address:  # a cluster may grow (an autoscaler, nodes still joining): Ray waits for them
                return gpus, f"warning: --gpus-per-trial {gpus:g} but {have}; trials wait until GPUs join"
            raise SearchError(f"--gpus-per-trial {gpus:g}: {have}")
        if gpus == 0 and device.startswith("cuda"):
            raise SearchError(
                f"--device {device} with --gpus-per-trial 0: Ray hides the GPUs from a trial that reserves none; "
                "pass --gpus-per-trial 1 (or 0.5 to pack two trials on a GPU)"
            )
        if gpus == 0 and available > 0 and device == "auto":  # e.g. a search saved before the GPU default
            return 0.0, (
                f"GPUs: {available:g} in the Ray runtime, but --gpus-per-trial 0 keeps the trials on the CPU "
                "(pass --gpus-per-trial to use them)"
            )
        return gpus, None
    if available <= 0:
        if device.startswith("cuda"):
            raise SearchError(f"--device {device}: the Ray runtime has no GPU (`ray status` lists its resources)")
        return 0.0, None
    if device in ("cpu", "mps"):
        return 0.0, None
    per = 1 / math.ceil(cfg.concurrency / available) if available >= 1 else available / cfg.concurrency
    packed = f", {round(1 / per)} trials per GPU" if per < 1 else ""
    idle = (
        f"; --concurrency {math.floor(available)} would use them all" if cfg.concurrency < math.floor(available) else ""
    )
    return per, (
        f"GPUs: {available:g} in the Ray runtime, so each of the {cfg.concurrency} concurrent trials gets "
        f"{per:g} GPU{packed} (--gpus-per-trial chooses{idle})"
    )
