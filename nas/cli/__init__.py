"""Command line: ``launch.py search | train | show | plot | export | ops | prepare`` (also the ``nasgraph`` command).

Every bad argument, config value or data path ends in one line on stderr and exit code 2; an
interrupted search (Ctrl-C, SIGTERM) exits 130/143 and says how to resume. One module per job:

- `args`: argument types and the parser whose errors are one line; `options`: the flags (each search
  option a SearchConfig key) and the parser built from them;
- `search`: ``search`` and ``--resume`` (a thin caller of `nas.api.drive`); `train`: ``train``;
- `pick`: architectures and trials named on the command line; `export`: ``export``;
- `show`: ``show`` (and ``--watch``), ``plot`` and ``ops``; `prepare`: ``prepare`` (a dataset into shards).
- `tables`: the README's tables of controllers, engines and export formats, written from the registries.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from nas.cli.args import EXIT_BAD_INPUT, UsageError
from nas.cli.export import cmd_export
from nas.cli.options import build_parser, search_options
from nas.cli.prepare import cmd_prepare
from nas.cli.search import cmd_search
from nas.cli.show import cmd_ops, cmd_plot, cmd_show
from nas.cli.train import cmd_train
from nas.errors import NasgraphError, one_line

__all__ = ["EXIT_BAD_INPUT", "UsageError", "build_parser", "main", "search_options"]


def __getattr__(name: str) -> Any:
    if name == "SEARCH_OPTIONS":  # every search flag, as `nas.cli.options.search_options` (plugins' included)
        return search_options()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_plugins_named(argv: list[str]) -> None:
    """Run the ``--plugin FILE.py`` files of a command line, those a ``--config`` file names and those of the
    search ``--resume DIR`` continues, before the parser is built, so what they register (a controller, an engine,
    an export format) has its name and flags in it."""
    from nas.plugins import load_all

    given = dict(zip(argv, argv[1:], strict=False))
    paths = [v for flag, v in zip(argv, argv[1:], strict=False) if flag == "--plugin"]
    paths += [a.split("=", 1)[1] for a in argv if a.startswith("--plugin=")]
    for where in (given.get("--config"), given.get("--resume") and f"{given['--resume']}/config.json"):
        paths += _plugins_in(where) if where else []
    load_all(str(Path(p).expanduser().resolve()) for p in paths)  # (named as the search saves them: absolute)


def _plugins_in(path: str) -> list[str]:
    """The ``plugins`` a config file or a results folder's config.json names; [] where it cannot be read (the
    command then says what is wrong with it, in one line, as before)."""
    import json

    try:
        text = Path(path).read_text()
        data = json.loads(text) if not path.endswith((".yaml", ".yml")) else _yaml(text)
    except (OSError, ValueError, RecursionError):  # (a file nested too deep: the command says so)
        return []
    plugins = data.get("plugins") if isinstance(data, dict) else None
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        return []
    return [str((Path(path).parent / p) if path.endswith("config.json") else p) for p in plugins]


def _yaml(text: str) -> object:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(str(e)) from None


COMMANDS = {
    "search": cmd_search,
    "train": cmd_train,
    "show": cmd_show,
    "plot": cmd_plot,
    "export": cmd_export,
    "ops": cmd_ops,
    "prepare": cmd_prepare,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of launch.py and the `nasgraph` command."""
    try:
        given = sys.argv[1:] if argv is None else argv
        load_plugins_named(given)  # first: their controllers' flags and names
        if "-h" in given or "--help" in given:  # the datasets' help is read from their registry (torch: only here)
            import nas.data  # noqa: F401
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except NasgraphError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
