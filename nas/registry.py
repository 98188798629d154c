"""One shape for every extension point: a registry of named entries, each declaring its options.

Ops (`searchspace.registry`) were the first; controllers, engines, published benchmarks, dataset sources
and export formats register the same way, with a decorator in their own module::

    @nas.register_controller("my_search", options=MyOptions)
    class MySearch(nas.Controller): ...

An entry is found by name (``--controller my_search``; ``name:ARG`` where it takes an argument, as
``table:PATH``). It may declare its options as a frozen dataclass, whose fields (with ``help`` in their
metadata, `option`) become its config keys and command-line flags; ``--help`` and the README's tables
are read from here, never kept as a second list. An unknown name is an error listing the known ones.

A registry imports its built-in entries' packages and every module in them on first use (`packages`), so
``import nas`` stays light and a new built-in is one new module;
an entry whose module is heavy (Ray's engine) is registered by path (`Registry.register_lazy`) and loaded
when it is used. Standard library only.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nas.errors import NasgraphError

OWN_PACKAGES = ("nas", "searchspace")  # an entry registered from these is built in; a plugin may not replace it
NAME = re.compile(r"[a-z][a-z0-9_]*")


class RegistryError(NasgraphError, ValueError):
    """An unknown name, or a registration that is not allowed; the message lists what is."""


def option(default: Any = dataclasses.MISSING, help: str = "", **metadata: Any) -> Any:  # noqa: A002 -- argparse's word
    """A field of an entry's options dataclass: its default and the help its flag and table show.

    ``metadata`` may hold ``choices`` (allowed values), ``metavar``, ``flag`` (another flag name) and ``type``
    (the flag's argparse type; an int option's is a positive integer unless given)."""
    kind = "default_factory" if callable(default) and not isinstance(default, type) else "default"
    return field(**{kind: default}, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class NoOptions:
    """An entry without options of its own."""


@dataclass(frozen=True)
class Entry:
    """One registered name: what it names (an object, or ``module:attr`` until loaded) and what it declares."""

    kind: str  # "controller", "engine", ...
    name: str
    target: Any  # the class or function; a "module:attr" string for a lazy entry
    options: type = NoOptions  # a frozen dataclass of its options
    summary: str = ""  # one line for --help and the README's tables
    usage: str = ""  # how it is named there, e.g. "table:PATH"
    takes_arg: bool = False  # whether it is named "name:ARG"
    builtin: bool = True
    traits: Mapping[str, Any] = field(default_factory=dict)  # what the entry can do, read by the search

    def load(self) -> Any:
        """The registered object (a lazy entry's module is imported now)."""
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            return getattr(importlib.import_module(module), attr)
        return self.target

    def fields(self) -> tuple[dataclasses.Field, ...]:
        return dataclasses.fields(self.options)

    def check_keys(self, values: Mapping[str, Any]) -> None:
        """RegistryError naming the first key it has no option for, and the ones it has."""
        allowed = sorted(f.name for f in self.fields())
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            said = ", ".join(allowed) or "none"
            raise RegistryError(f"unknown option {self.kind}.{unknown[0]} of {self.name}; its options: {said}")

    def make_options(self, values: Mapping[str, Any] | None = None) -> Any:
        """Its options dataclass from plain values (`check_keys` first); the dataclass checks the values."""
        values = dict(values or {})
        self.check_keys(values)
        return self.options(**values)

    def trait(self, key: str, default: Any = None) -> Any:
        return self.traits.get(key, default)

    @property
    def short(self) -> str:
        """Its name as a one-line error lists it: ``table:PATH`` (its ``arg`` trait), ``ray``."""
        return f"{self.name}:{self.trait('arg', 'ARG')}" if self.takes_arg else self.name


class Registry:
    """Named entries of one kind; built-in ones imported from `packages` on first use."""

    def __init__(self, kind: str, packages: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.packages = packages  # imported once, before the first lookup: their modules register the built-ins
        self._entries: dict[str, Entry] = {}
        self._loaded = not packages

    # ------------------------------------------------------------ registering

    def register(
        self,
        name: str,
        *,
        options: type | None = None,
        summary: str = "",
        usage: str = "",
        takes_arg: bool = False,
        **traits: Any,
    ) -> Callable[[Any], Any]:
        """Decorator: register a class or function under ``name`` (see the module docstring)."""

        def decorate(target: Any) -> Any:
            module = getattr(target, "__module__", "") or ""
            self.add(name, target, options, summary or _summary(target), usage, takes_arg, _own(module), traits)
            return target

        return decorate

    def register_lazy(self, name: str, target: str, **kwargs: Any) -> None:
        """Register ``module:attr`` without importing it (a built-in whose module is heavy)."""
        summary = kwargs.pop("summary", "")
        options = kwargs.pop("options", None)
        usage, takes_arg = kwargs.pop("usage", ""), kwargs.pop("takes_arg", False)
        self.add(name, target, options, summary, usage, takes_arg, _own(target.partition(":")[0]), kwargs)

    def add(
        self,
        name: str,
        target: Any,
        options: type | None,
        summary: str,
        usage: str,
        takes_arg: bool,
        builtin: bool,
        traits: Mapping[str, Any],
    ) -> None:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise RegistryError(f"{self.kind} name must be lowercase letters, digits and '_', got {name!r}")
        if not builtin:
            self._load_builtins()  # so that a built-in name not yet imported is refused, not overwritten later
        old = self._entries.get(name)
        if old is not None and old.builtin and not builtin:
            raise RegistryError(f"{self.kind} {name!r} is built in; register yours under another name")
        if options is not None and not dataclasses.is_dataclass(options):
            raise RegistryError(f"{self.kind} {name!r}: options must be a dataclass, got {options!r:.60}")
        usage = usage or (f"{name}:ARG" if takes_arg else name)
        self._entries[name] = Entry(
            self.kind, name, target, options or NoOptions, summary, usage, takes_arg, builtin, dict(traits)
        )

    # ------------------------------------------------------------ finding

    def get(self, name: str) -> Entry:
        """The entry of exactly this name; RegistryError listing the known names otherwise."""
        self._load_builtins()
        entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None:
            raise RegistryError(f"unknown {self.kind} {name!r}; choose from {', '.join(self.usages())}")
        return entry

    def parse(self, spec: str) -> tuple[Entry, str | None]:
        """The entry a ``name`` or ``name:ARG`` spec names, and its argument."""
        base, sep, arg = str(spec).partition(":")
        entry = self.get(base) if base in self else None
        if entry is None:
            raise RegistryError(f"unknown {self.kind} {spec!r}; choose from {', '.join(self.usages())}")
        if bool(sep) != entry.takes_arg or (sep and not arg):
            raise RegistryError(f"{self.kind} {spec!r}: expected {entry.usage}")
        return entry, (arg if sep else None)

    def names(self) -> tuple[str, ...]:
        self._load_builtins()
        return tuple(self._entries)

    def usages(self) -> tuple[str, ...]:
        """The entries as named in help text (those taking an argument show it)."""
        return tuple(e.usage for e in self)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        self._load_builtins()
        return iter(list(self._entries.values()))

    def _load_builtins(self) -> None:
        """Import `packages` and every module in them, so each built-in registers from its own module (a new
        one is a new file, listed nowhere else); modules a lazy entry names are left until it is used."""
        if self._loaded:
            return
        self._loaded = True
        for package in self.packages:
            module = importlib.import_module(package)
            lazy = {e.target.partition(":")[0] for e in self._entries.values() if isinstance(e.target, str)}
            for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
                name = f"{package}.{info.name}"
                if name not in lazy and not info.name.startswith("_"):
                    importlib.import_module(name)


def _own(module: str) -> bool:
    return module.split(".")[0] in OWN_PACKAGES


def _summary(target: Any) -> str:
    """A docstring's first paragraph as one line for --help: "Samples the space." -> "samples the space"."""
    doc = (getattr(target, "__doc__", None) or "").strip().split("\n\n")[0]
    line = " ".join(part.strip() for part in doc.splitlines()).rstrip(".")
    word = line.split(" ")[0]
    return line[0].lower() + line[1:] if word and (len(word) == 1 or word[1:].islower()) else line


# The registries of nas (ops have theirs in `searchspace.registry`; datasets `nas.data.registry`). Each finds its
# built-ins by importing its packages' modules, whose decorators fill it (`Registry._load_builtins`).
CONTROLLERS = Registry("controller", ("nas.controllers",))
ENGINES = Registry("engine", ("nas.engines",))
BENCHMARKS = Registry("benchmark", ("nas.benchmarks",))  # (named by --engine NAME:ARG)
EXPORT_FORMATS = Registry("export format", ("nas.exporter.formats",))


def engine_entry(spec: str) -> tuple[Entry, str | None]:
    """The entry an ``--engine`` spec names, and its argument: an engine's (``ray``, ``local``, ``table:PATH``)
    or a published benchmark's (``nb201:DATASET``, which the table engine answers from the benchmark's table).
    Its traits say what the search gets: ``trains`` (networks, on the search's data), ``latency`` (latencies),
    ``images`` (data for zero-cost proxies); RegistryError naming the engines and benchmarks otherwise."""
    base = str(spec).partition(":")[0]
    if base not in ENGINES and base in BENCHMARKS:
        entry = BENCHMARKS.get(base)
        arg = str(spec).partition(":")[2]
        try:
            entry.load().check(arg)
        except ValueError as e:
            raise RegistryError(f"expected {entry.usage}, got {spec!r} ({e})") from None
        return entry, arg
    if base not in ENGINES:
        *known, last = (e.short for e in (*ENGINES, *BENCHMARKS))
        raise RegistryError(f"expected {', '.join(known)} or {last}, got {spec!r}")
    return ENGINES.parse(spec)


class OptionError(ValueError):
    """An option value an entry's options dataclass does not allow (`check`); the search prefixes its section."""

    def __init__(self, key: str, allowed: str, value: Any) -> None:
        super().__init__(f"{key} must be {allowed}; got {value!r}")
        self.key = key


def check(ok: bool, key: str, allowed: str, value: Any) -> None:
    """In an options dataclass's ``__post_init__``: OptionError unless ``ok``."""
    if not ok:
        raise OptionError(key, allowed, value)
