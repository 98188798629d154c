"""``launch.py prepare SOURCE --image-size N --out DIR``: a dataset decoded once into memory-mapped shards."""

from __future__ import annotations

import argparse
import os


def cmd_prepare(args: argparse.Namespace) -> int:
    from nas.data.prepare import Options, prepare
    from nas.plugins import load_all

    load_all(args.plugin or ())  # (their register_dataset calls name sources)
    opts = Options(
        source=args.source,
        image_size=args.image_size,
        classes=args.classes or "",
        per_class=args.per_class,
        seed=args.seed,
        shard_size=args.shard_size,
        data_dir=args.data_dir,
        download=args.download,
    )
    local = args.workers == 1 and not args.address  # one worker here: the driver decodes, no Ray runtime to start
    manifest = prepare(opts, args.out, workers=args.workers, start=None if local else lambda: _start_ray(args))
    counts = ", ".join(f"{split} {manifest.count(split):,}" for split in manifest.splits)
    c, h, w = manifest.shape
    skipped = (
        f"; {len(manifest.skipped)} unreadable files skipped (listed in manifest.json)" if manifest.skipped else ""
    )
    print(f"{os.path.abspath(args.out)}: {counts} images of {c}x{h}x{w}, {manifest.num_classes} classes{skipped}")
    print(f"search it: launch.py search --dataset shards:{os.path.abspath(args.out)}")
    return 0


def _start_ray(args: argparse.Namespace) -> None:
    """Ray for the decoding tasks: the cluster at --address, else a local runtime of --workers CPUs."""
    from nas.engines.ray_tune import init_ray

    init_ray(args.address, num_cpus=None if args.address else (args.workers or os.cpu_count() or 1))


def add_parser(sub: argparse._SubParsersAction) -> None:
    from nas.cli.args import positive_int

    p = sub.add_parser(
        "prepare",
        help="decode and resize a dataset once into shards that searches memory-map (--dataset shards:DIR)",
        description="Decode and resize SOURCE once, in parallel on Ray, into uint8 .npy shards and manifest.json. "
        "Killed, the same command resumes where it stopped.",
    )
    p.add_argument("source", help="an image folder (DIR/<class>/<images>, or DIR/train + DIR/test), a built-in "
                   "dataset (cifar10, mnist, digits, synthetic:CxHxW:K:N, ...), or a dataset a --plugin registers")  # fmt: skip
    p.add_argument("--image-size", type=positive_int, required=True, metavar="N", help="resize images to N x N")
    p.add_argument("--out", required=True, metavar="DIR", help="the prepared folder (every node must read it)")
    p.add_argument("--classes", metavar="K|a,b,c", help="keep K classes drawn with --seed, or the classes named")
    p.add_argument("--per-class", type=int, default=0, metavar="M", help="keep M training images per class (seeded)")
    p.add_argument("--seed", type=int, default=0, help="seed of --classes and --per-class draws (default 0)")
    p.add_argument(
        "--shard-size",
        type=int,
        default=0,
        metavar="N",
        help="images per shard (default 512, fewer where that passes 64 MB)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="parallel decoding tasks (default: the runtime's CPUs; 1: this process, no Ray)",
    )
    p.add_argument("--address", help="Ray cluster address (from `ray start --head`); default: start Ray locally")
    p.add_argument(
        "--data-dir", help="where the built-in datasets are (default $NASGRAPH_DATA or ~/.cache/nasgraph/data)"
    )
    p.add_argument("--download", action="store_true", help="download a built-in dataset if missing")
    p.add_argument("--plugin", action="append", metavar="FILE.py", help="your file registering datasets (repeatable)")
