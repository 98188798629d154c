"""The README's tables of what is registered, written from the registries (``python -m nas.cli.tables``).

Each table sits in README.md between ``<!-- registry:KIND -->`` and ``<!-- /registry -->``;
``python -m nas.cli.tables --write README.md`` rewrites them, and a test fails when they differ from the
registries, so a list in the README can no longer go stale (the flags and ``--help`` read the same entries).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from nas.registry import BENCHMARKS, CONTROLLERS, ENGINES, EXPORT_FORMATS, Entry, Registry

MARK = re.compile(r"(<!-- registry:(\w+) -->\n)(.*?)(<!-- /registry -->)", re.S)


def _options(entry: Entry) -> str:
    """An entry's options as ``--flag`` (default): help, one per line."""
    said = []
    for f in entry.fields():
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        said.append(f"`{flag}`: {f.metadata.get('help', '')}")
    return "<br>".join(said) or "none"


def _rows(registry: Registry, name: str) -> list[str]:
    return [f"| `{e.usage if name == 'usage' else e.name}` | {e.summary} | {_options(e)} |" for e in registry]


def tables() -> dict[str, str]:
    """Each registry's table in Markdown, by the marker name README.md gives it."""
    head = (
        "| {} | what it does | its options (flags; config: `{}: {{name: ..., option: ...}}`) |\n| --- | --- | --- |\n"
    )
    engines = _rows(ENGINES, "usage") + _rows(BENCHMARKS, "usage")
    formats = [f"| `{e.name}` | `{e.load().file}` | {e.summary} |" for e in EXPORT_FORMATS]
    return {
        "controllers": head.format("`--controller`", "controller") + "\n".join(_rows(CONTROLLERS, "name")) + "\n",
        "engines": head.format("`--engine`", "engine") + "\n".join(engines) + "\n",
        "formats": "| `--format` | file | what it is |\n| --- | --- | --- |\n" + "\n".join(formats) + "\n",
    }


def rewrite(text: str) -> str:
    """README text with every registry table replaced by the registries' own."""
    made = tables()
    return MARK.sub(lambda m: m.group(1) + made[m.group(2)] + m.group(4), text)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nas.cli.tables", description=__doc__.splitlines()[0])
    ap.add_argument("--write", metavar="README", help="rewrite the tables in this file (default: print them)")
    args = ap.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(rewrite(path.read_text()))
        return 0
    for name, table in tables().items():
        print(f"<!-- registry:{name} -->\n{table}<!-- /registry -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
