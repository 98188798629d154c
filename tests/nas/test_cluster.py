"""A real Ray cluster, started the way users start one, with Ray's token authentication on.

`ray start --head` runs in its own process group (own temp dir, ports and HOME, so its token file
is this test's), a second node joins with `ray start --address`, and the search joins with
`launch.py search --address`. The head has a token, so (Ray 2.59+) it requires token auth: the
driver must find and send the token by itself. Only the processes these tests start are ended,
by their process groups.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from nas.record.jsonl import Record, read_rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
QUICK = ["--epochs", "1", "--limit", "300", "--ops", "conv,sepconv,maxpool", "--wirings", "chain"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def counted(rows):
    return [r for r in rows if r["status"] not in ("rejected", "duplicate")]


class RayCluster:
    """A head and worker nodes started with the `ray` command, each in its own process group."""

    def __init__(self, tmp: Path):
        self.home = tmp / "home"
        self.home.mkdir()
        self.env = os.environ | {"HOME": str(self.home), "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
        self.env.pop("RAY_AUTH_MODE", None)
        self.env.pop("RAY_ADDRESS", None)
        self.temp = Path("/tmp") / f"ng-{os.getpid()}-{free_port()}"  # short: Ray's socket paths have a length cap
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        # A token in the head's home: a head with a token enforces token authentication (Ray 2.59+)
        subprocess.run([RAY, "get-auth-token", "--generate"], env=self.env, capture_output=True, check=True, timeout=60)

    def start_head(self) -> subprocess.Popen:
        argv = [RAY, "start", "--head", f"--port={self.port}", "--num-cpus=1", f"--temp-dir={self.temp}"]
        argv += ["--include-dashboard=false", "--disable-usage-stats", "--block"]
        head = self._start(argv)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None, "ray start --head exited"
                time.sleep(0.5)
        else:
            pytest.fail("the head did not come up")
        return head

    def add_node(self) -> subprocess.Popen:
        """A worker node as README says: the head's token at hand (same machine, same file) and token mode on."""
        return self._start([RAY, "start", f"--address={self.address}", "--num-cpus=1", "--block"], token_mode=True)

    def node_ids(self) -> set[str]:
        """The cluster's live node ids (12-character prefixes, as the record keeps them), from `ray status`."""
        out = subprocess.run(
            [RAY, "status", f"--address={self.address}"],
            env=self.env | {"RAY_AUTH_MODE": "token"},
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        return {word[len("node_") :][:12] for word in out.split() if word.startswith("node_")}

    def wait_for_nodes(self, n: int) -> None:
        deadline = time.time() + 90
        while time.time() < deadline:
            if len(self.node_ids()) >= n:
                return
            time.sleep(1)
        pytest.fail(f"{n} nodes did not join")

    def _start(self, argv: list[str], token_mode: bool = False) -> subprocess.Popen:
        env = self.env | ({"RAY_AUTH_MODE": "token"} if token_mode else {})
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            kill_group(proc)
        shutil.rmtree(self.temp, ignore_errors=True)  # the head's session files


@pytest.fixture
def cluster(tmp_path):
    c = RayCluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()


def launch(cluster: RayCluster, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), "search", *args],
        cwd=ROOT,
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def recorded(root: Path) -> list[dict]:
    return read_rows(root)[0] if (root / "trials.jsonl").exists() else []


def wait_rows(root: Path, n: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(counted(recorded(root))) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"the search ended early: {proc.stderr.read()[-2000:]}")
        time.sleep(0.2)
    pytest.fail("no trials were recorded in time")


def test_a_search_on_a_ray_start_cluster_survives_a_killed_driver_and_resumes_with_resume_alone(cluster, tmp_path):
    cluster.start_head()
    cluster.add_node()
    cluster.wait_for_nodes(2)
    root = tmp_path / "on-cluster"
    driver = launch(
        cluster,
        "--address",
        cluster.address,
        "--trials",
        "6",
        "--concurrency",
        "2",
        *QUICK,
        "--population",
        "2",
        "--sample",
        "1",
        "--inherit",  # children's parent weights reach whichever node trains them (the ParentWeights actor)
        "--results-dir",
        str(tmp_path),
        "--name",
        "on-cluster",
    )
    try:
        wait_rows(root, 2, driver)
        driver.send_signal(signal.SIGKILL)  # the driver only: the cluster stays up, as when a laptop drops off
        assert driver.wait(timeout=30) == -signal.SIGKILL
        err = driver.stderr.read()
    finally:
        kill_group(driver)
    assert "joining " + cluster.address + " with Ray's token authentication (token from ~/.ray/auth_token)" in err
    assert "InvalidAuthToken" not in err
    before = read_rows(root)[0]
    assert 2 <= len(counted(before)) < 6
    saved = json.loads((root / "config.json").read_text())
    assert saved["address"] == cluster.address and saved["trials"] == 6 and saved["concurrency"] == 2

    resumed = launch(cluster, "--resume", str(root))  # nothing else: the saved address, budget and resources
    try:
        out, err = resumed.communicate(timeout=300)
    finally:
        kill_group(resumed)
    assert resumed.returncode == 0, err[-3000:]
    assert "resume:" not in err  # no option changed
    rows = Record.open(root).rows()
    assert rows[: len(before)] == before  # nothing lost or rewritten
    done = counted(rows)
    assert len(done) == 6 and all(r["status"] == "ok" for r in done)  # the saved 6, not the default 20
    assert len({r["trial_id"] for r in rows}) == len(rows)
    assert len(Counter(r["node"] for r in done)) == 2  # both nodes of the cluster trained trials
    heirs = [r for r in done if r.get("inherited_from")]
    assert heirs and all(r["inherited_from"] == r["parents"][0] and r["inherited"] > 0 for r in heirs)
    assert json.loads((root / "config.json").read_text()) == saved


def test_joining_a_token_cluster_without_the_token_is_one_line_and_leaves_nothing(cluster, tmp_path):
    cluster.start_head()
    elsewhere = tmp_path / "laptop"  # a machine that never had the head's token
    elsewhere.mkdir()
    env = cluster.env | {"HOME": str(elsewhere)}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "launch.py"),
            "search",
            "--address",
            cluster.address,
            "--trials",
            "1",
            *QUICK,
            "--results-dir",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "requires Ray's token authentication and this machine has no token" in lines[0]
    assert "ray get-auth-token" in lines[0]
    token = (cluster.home / ".ray" / "auth_token").read_text().strip()
    assert token and token not in proc.stderr
    assert not (tmp_path / "r").exists()  # a search that never ran a trial leaves nothing behind


def test_losing_a_worker_node_mid_search_retries_its_trial_on_the_head(cluster, tmp_path):
    cluster.start_head()
    cluster.wait_for_nodes(1)
    (head_id,) = cluster.node_ids()
    worker = cluster.add_node()
    cluster.wait_for_nodes(2)
    (worker_id,) = cluster.node_ids() - {head_id}
    root = tmp_path / "lossy"
    args = ["--address", cluster.address, "--trials", "6", "--concurrency", "2", *QUICK, "--controller", "random"]
    args[args.index("--epochs") + 1] = "60"  # trials of 1-4 s (4 epochs took 0.1-0.3 s): the kill lands inside one
    driver = launch(cluster, *args, "--results-dir", str(tmp_path), "--name", "lossy")
    try:
        deadline = time.time() + 240
        while not any(r.get("node") == worker_id for r in recorded(root)):
            assert time.time() < deadline and driver.poll() is None, "no trial finished on the worker node"
            time.sleep(0.1)
        time.sleep(1.0)  # the worker node has taken its next trial
        killed_at = time.time()
        kill_group(worker)  # the whole node: raylet, its workers, the trial in flight
        out, err = driver.communicate(timeout=300)
    finally:
        kill_group(driver)
    assert driver.returncode == 0, err[-3000:]
    rows = counted(Record.open(root).rows())
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows), [(r["trial_id"], r["status"]) for r in rows]
    assert len({r["trial_id"] for r in rows}) == 6  # none lost, none counted twice
    # the trial in flight on the lost node: Tune says which one died, and it was retried once, on the head
    died = re.findall(r"Trial task failed for trial trial_(\d+)", err)
    assert len(died) == 1, err[-3000:]
    (retried,) = [r for r in rows if r["trial_id"] == died[0]]
    assert retried["node"] == head_id and retried["finished"] > killed_at
    later = [r for r in rows if r["finished"] > killed_at + 0.5]
    assert later and all(r["node"] == head_id for r in later)  # after the loss, only the head trains
