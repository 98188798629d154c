"""Joining a Ray cluster with Ray's token authentication -- without importing Ray.

Clusters that ``ray start --head`` makes (Ray 2.59 and later) require Ray's token whenever the head
has one (``~/.ray/auth_token``, which any earlier local ``ray.init()`` on that machine creates), but
a driver that joins with an address sends it only under ``RAY_AUTH_MODE=token``. `prefer_token_auth`
asks the cluster (a token-less request in a child process) whether it requires a token, and if so
turns that mode on, before Ray is imported, when the user has not chosen a mode and a token is at
hand in one of the places Ray's documentation names (``RAY_AUTH_TOKEN``, the file
``RAY_AUTH_TOKEN_PATH`` names, ``~/.ray/auth_token``). The token itself is never read out or printed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import sys
from pathlib import Path

from nas.errors import SearchError, last_line

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
