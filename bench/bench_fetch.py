"""Dataset hand-off to Ray workers: the DataSplits as torch tensors vs as the numpy arrays nas.engines.ray_tune ships.

    python bench/bench_fetch.py            # 25,000 CIFAR-shaped synthetic images, 15 fetches each
    python bench/bench_fetch.py --quick    # 2,000 images, 5 fetches

Every trial's worker gets the dataset from Ray's object store (``tune.with_parameters``). Times
``ray.get`` inside a Ray task, plus turning the arrays back into a DataSplits (`nas.engines.ray_tune._unshipped`)
for the numpy form; the baseline is the same data shipped as torch tensors, in the same run. Also
reports the worker's RSS growth per fetch, i.e. whether the images were copied.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import machine, quiet_machine_note, table, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, k = (2000, 5) if args.quick else (25000, 15)

    import ray

    from nas.data import load_dataset
    from nas.engines.ray_tune import _shippable

    note = quiet_machine_note()
    if note:
        print(note)
    data = load_dataset(f"synthetic:3x32x32:10:{n}")
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)

    @ray.remote
    class Worker:  # one long-lived worker, as with reuse_actors
        def fetch(self, box: list, numpy_form: bool) -> tuple[float, float]:
            from nas.engines.ray_tune import _unshipped

            before = _rss_mb()
            t = time.perf_counter()
            got = ray.get(box[0])
            splits = _unshipped(got) if numpy_form else got
            seconds = time.perf_counter() - t
            grew = _rss_mb() - before
            del splits, got
            return seconds, grew

    worker = Worker.remote()
    rows, payload = [], {"machine": machine(), "images": n, "fetches": k}
    for name, obj, numpy_form in (("tensors (baseline)", data, False), ("numpy arrays (ours)", _shippable(data), True)):
        ref = ray.put(obj)
        got = [ray.get(worker.fetch.remote([ref], numpy_form)) for _ in range(k)]
        ms = statistics.median(s for s, _ in got) * 1000
        payload[name] = {"ms": [s * 1000 for s, _ in got], "rss_growth_mb": [g for _, g in got]}
        rows.append([name, ms, got[0][0] * 1000, statistics.median(g for _, g in got)])
    ray.shutdown()
    rows.append(["ratio baseline / ours", rows[0][1] / rows[1][1], "", ""])
    text = table(["dataset as", "median ms per fetch", "first fetch ms", "median RSS growth MB"], rows)
    bytes_mb = sum(t.nbytes for t in (data.train_x, data.val_x, data.test_x)) / 2**20
    print(f"\n{n:,} images ({bytes_mb:.0f} MB of uint8), {k} fetches each by one worker\n{text}")
    name = "bench_fetch" + ("_quick" if args.quick else "")
    print(f"results: {write_results(name, payload | {'table': text})}")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
