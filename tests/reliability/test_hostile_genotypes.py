"""Hostile genotype JSON: whatever the document, reading and validating raise GenotypeError and nothing else.

A document is checked in layers, and every generated family of documents is built to reach one of
them; each test asserts the share that family gets refused where it was aimed:

- ``parse``: `Genotype.from_json` refuses it (bad JSON, a wrong JSON type, a missing or unknown
  field), subdivided by the part the message names: ``json``, ``genotype`` (the top level),
  ``stem``, ``stage``, ``node`` (a stage's or the stem's node) and ``head``;
- ``shapes``: shape inference at the search's input, ``ss.validate(g, 1, 10, 8)``, refuses it (out
  of range values, unknown ops, dangling or cyclic edges, wiring genes that lie, a resolution gone
  below one pixel), subdivided by part the same way;
- ``space``: the search space's own check, ``SPACE.validate(g)``, refuses it (it builds, but a stage
  uses an op outside the space);
- ``valid``: it passes everything, fingerprint included.

The families: valid seed genotypes with exactly one part made unreadable (the stem, a stage's
fields, a node, the head) or unbuildable (the same parts with well-typed values out of range, plus
strides and pooling that shrink the 8x8 input to nothing); genotypes that build but step outside the
space; members of the space. Beside them, undirected fuzzing: arbitrary JSON documents and byte
strings, and valid seeds edited once (or twice) anywhere: a value replaced by a hostile one of its
own JSON type or by any document, a field or an item dropped or added. Hand-made cases cover
cycles, unknown ops and documents nested 100,000 deep, and the CLI (`launch.py train
GENOTYPE.json`) answers each with one line and exit code 2.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import searchspace as ss
from nas.cli import main
from searchspace import registry
from searchspace.genotype import HEAD_ACTS, MERGES, WIRINGS, Genotype, GenotypeError
from searchspace.shapes import MAX_HEAD_LAYERS, MAX_STRIDE, MAX_WIDTH

# derandomize: the same code draws the same documents every run. Hypothesis seeds itself from the source
# of `run`'s inner test and mixes in literals it finds in the loaded modules' source, so an edit (or
# other test modules loaded beside this one) draws other documents: the shares asserted leave room for
# that, as measured over several such drawings.
SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
SPACE = ss.SearchSpace(in_channels=1, num_classes=10, input_size=8, widths=(8, 16))
VALID = [SPACE.sample(random.Random(i)).to_dict() for i in range(8)]  # every wiring: chain, residual, dense, ws
OUTSIDE_OPS = sorted(set(registry.names()) - set(SPACE.ops) - {"identity"})  # registered, but not in the space

_WHERE = re.compile(
    r"(?P<node>(?:stem|stage \d+) node \d+)|(?P<stem>stem)\b|(?P<stage>stage \d+)\b|(?P<head>head)\b"
    r"|(?P<json>genotype is not valid JSON|genotype JSON)|(?P<genotype>genotype)\b"
)


def verdict(text: str | bytes) -> tuple[str, str]:
    """What every entry point does with a user's genotype; only GenotypeError may come out.

    Returns where the document stopped, and the refusal's message (empty when valid): "parse:PART"
    (`Genotype.from_json` refused it), "shapes:PART" (shape inference at the search's input refused
    it), "space" (the search space refused it), "fingerprint" (hashing it failed) or "valid"; PART is what the message names first:
    json, genotype, stem, stage, node, head (or "other" when it names none).
    """
    layer = "parse"
    try:
        g = Genotype.from_json(text)
        layer = "shapes"
        ss.validate(g, 1, 10, 8)
        layer = "space"
        SPACE.validate(g)
        layer = "fingerprint"
        g.fingerprint()
        return "valid", ""
    except GenotypeError as e:
        message = str(e).strip()
        assert message and "\n" not in message  # one line that says something
        if layer in ("space", "fingerprint"):
            return layer, message
        where = _WHERE.match(message)
        return f"{layer}:{where.lastgroup if where else 'other'}", message


def run(strategy, examples: int, label=None) -> Counter:
    """Counts of the verdicts (or of `label(verdict, message)`) of `examples` documents drawn from `strategy`;
    a document that is not text or bytes is sent as JSON text."""
    counts = Counter()

    @settings(SETTINGS, max_examples=examples)
    @given(strategy)
    def check(doc):
        seen, message = verdict(doc if isinstance(doc, str | bytes) else json.dumps(doc))
        assert not seen.endswith(":other"), message  # every refusal says where it is
        event(seen)
        counts[label(seen, message) if label else seen] += 1

    check()
    assert sum(counts.values()) >= 0.9 * examples, counts  # hypothesis made (almost) as many as asked
    return counts


def share(counts: Counter, seen: str) -> float:
    """The share of the documents counted under `seen` (a verdict, or a whole layer such as "parse")."""
    total = sum(counts.values())
    return sum(n for s, n in counts.items() if s == seen or s.split(":")[0] == seen) / total


# ---------------------------------------------------------------- JSON values, by kind

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["conv", "sum", "concat", "ws", "chain", -1, 0, 1, 2**31, 2**63, 10**30, 1e308, -1e308])
)
KEYS = ["stem", "stages", "head", "width", "stride", "nodes", "op", "inputs", "merge", "params", "outputs",
        "out_merge", "wiring", "kind", "k", "p", "seed", "pool_size", "hidden", "dropout", "act", "kernel"]  # fmt: skip
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=40,
)
# arbitrary documents under the genotype's own top-level keys (with a valid stem, or an arbitrary one): they
# get past the top level into the stem, the stages and their nodes
genotype_keyed = st.fixed_dictionaries(
    {
        "stem": documents | st.sampled_from([v["stem"] for v in VALID]),
        "stages": st.lists(documents, min_size=1, max_size=3),
    },
    optional={"head": documents},
)
TOKENS = [
    *ss.ops.names(),
    "sum",
    "mean",
    "wsum",
    "concat",
    "chain",
    "residual",
    "dense",
    "ws",
    "custom",
    "relu",
    "gelu",
]
KINDS = {  # JSON values of each kind
    "null": st.none(),
    "bool": st.booleans(),
    "int": st.integers(-(2**70), 2**70) | st.sampled_from([0, 1, 8, 16, -1]),
    "float": st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([8.0, 1.0, 0.5, -1.0]),
    "str": st.sampled_from(TOKENS) | st.text(max_size=6),
    "list": st.lists(scalars, max_size=3),
    "dict": st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), scalars, max_size=3),
}


def _not(*kinds: str):
    """Any JSON value not of these kinds."""
    return st.one_of(*(s for k, s in KINDS.items() if k not in kinds))


_not_scalar = _not("bool", "int", "float", "str")
_not_int_list = _not("list") | st.tuples(st.lists(st.integers(-1, 3), max_size=2), _not("int")).map(
    lambda t: [*t[0], t[1]]
)


def _word_not_in(words):
    return (
        st.sampled_from(["nope", "", "SUM", "Conv", "product", "max", "os.system('ls')"]) | st.text(max_size=8)
    ).filter(lambda w: w not in words)


def _out_of(lo: int, hi: int):
    """Integers outside [lo, hi], near and far."""
    return (
        st.integers(max_value=lo - 1)
        | st.integers(min_value=hi + 1)
        | st.sampled_from([lo - 1, hi + 1, 2**63, -(2**63)])
    )


# ---------------------------------------------------------------- documents aimed at one layer

ALLOWED = {  # the fields Genotype.from_json reads in each part, and those it requires
    "stage": (("width", "stride", "out_merge", "outputs", "wiring", "nodes"), ("width", "nodes")),
    "node": (("op", "inputs", "width", "merge", "params"), ("op",)),
    "head": (("pool_size", "hidden", "dropout", "act"), ()),
}
WRONG_TYPE = {  # per part and field: values of a JSON type Genotype.from_json does not read there
    "stage": {
        "width": _not("int"),
        "stride": _not("int"),
        "out_merge": _not("str"),
        "outputs": _not_int_list,
        "wiring": _not("dict")
        | st.fixed_dictionaries({"kind": _not("str")})
        | st.fixed_dictionaries({"kind": st.sampled_from(WIRINGS), "k": _not_scalar}),
        "nodes": _not("list"),
    },
    "node": {
        "op": _not("str"),
        "inputs": _not_int_list,
        "width": _not("int"),
        "merge": _not("str"),
        "params": _not("dict")
        | st.dictionaries(st.sampled_from(["kernel", "groups", "p", "x"]), _not_scalar, min_size=1),
    },
    "head": {"pool_size": _not("int"), "hidden": _not_int_list, "dropout": _not("int", "float"), "act": _not("str")},
}


def _seed(draw) -> dict:
    return copy.deepcopy(draw(st.sampled_from(VALID)))


def _part_of(draw, doc: dict, part: str) -> tuple[dict | list, str | int, str]:
    """Where in doc the part lives: (its container, its key there, its kind: stage, node or head)."""
    if part == "head":
        return doc, "head", "head"
    if part == "stem":
        return doc, "stem", "stage"
    if part == "stage":
        return doc["stages"], draw(st.integers(0, len(doc["stages"]) - 1)), "stage"
    stages = [doc["stem"], *doc["stages"]]  # a node of the stem or of a stage
    nodes = stages[draw(st.integers(0, len(stages) - 1))]["nodes"]
    return nodes, draw(st.integers(0, len(nodes) - 1)), "node"


@st.composite
def unreadable(draw, part: str) -> dict:
    """A valid seed with exactly one part (stem, a stage's own fields, a node, the head) made unreadable: a
    field of the wrong JSON type, a required field dropped, an unknown field added, or not an object at all."""
    doc = _seed(draw)
    container, key, kind = _part_of(draw, doc, part)
    allowed, required = ALLOWED[kind]
    target = container[key]
    how = draw(st.sampled_from(["wrong type"] * 4 + ["not an object", "unknown field"] + ["drop"] * bool(required)))
    if how == "wrong type":
        field = draw(st.sampled_from(sorted(WRONG_TYPE[kind])))
        target[field] = draw(WRONG_TYPE[kind][field])
    elif how == "not an object":
        container[key] = draw(_not("dict"))
    elif how == "unknown field":
        target[draw((st.sampled_from(KEYS) | st.text(max_size=6)).filter(lambda k: k not in allowed))] = draw(scalars)
    else:
        del target[draw(st.sampled_from(required))]
    return doc


def _bad_outputs(stage: dict):
    n = len(stage["nodes"])
    return (
        st.integers(n, n + 99).map(lambda j: [j])
        | st.integers(-99, -2).map(lambda j: [j])
        | st.integers(-1, n - 1).map(lambda j: [j, j])
    )


def _bad_inputs(node_index: int, n: int):
    return (
        st.just([])
        | st.just([node_index])  # reads itself
        | st.integers(n, n + 99).map(lambda j: [j])
        | st.integers(-(2**63), -2).map(lambda j: [j])
        | st.integers(-1, node_index - 1).map(lambda j: [j, j])
    )


_bad_param = st.sampled_from([math.nan, math.inf, -math.inf, 10**9, -(10**9), 2**63, "x!"])
SAME_WIDTH_OPS = sorted(n for n, spec in registry.REGISTRY.items() if spec.width == "same")


@st.composite
def unbuildable(draw, part: str) -> dict:
    """A valid seed with exactly one part (stem, a stage's own fields, a node, the head) given well-typed values
    that shape inference refuses: out of range, unknown names, edges that dangle or lie about their wiring."""
    doc = _seed(draw)
    container, key, kind = _part_of(draw, doc, part)
    target = container[key]
    if kind == "stage":
        field = draw(st.sampled_from(["width", "stride", "nodes", "out_merge", "outputs", "wiring", "wiring"]))
        if field == "wiring":
            old = target.get("wiring", {}).get("kind", "custom")
            target["wiring"] = draw(
                st.fixed_dictionaries({"kind": _word_not_in(WIRINGS)})  # no such wiring
                | st.fixed_dictionaries({"kind": st.just("custom"), "k": st.integers(1, 4)})  # custom has no genes
                | st.sampled_from([w for w in ("chain", "residual", "dense") if w != old]).map(lambda w: {"kind": w})
            )  # the last: edges that do not match the wiring's
        else:
            target[field] = draw(
                {
                    "width": _out_of(1, MAX_WIDTH),
                    "stride": _out_of(1, MAX_STRIDE),
                    "nodes": st.just([]),
                    "out_merge": _word_not_in(MERGES),
                    "outputs": _bad_outputs(target),
                }[field]
            )
    elif kind == "node":
        field = draw(st.sampled_from(["op", "inputs", "width", "merge", "params", "same width"]))
        if field == "op":
            target["op"] = draw(_word_not_in(registry.names()))
        elif field == "inputs":
            target["inputs"] = draw(_bad_inputs(key, len(container)))
        elif field == "width":
            target["width"] = draw(_out_of(0, MAX_WIDTH))
        elif field == "merge":
            target["merge"] = draw(_word_not_in(MERGES))
        elif field == "params":
            names = [*registry.get(target["op"]).params, "nope"]
            target["params"] = {draw(st.sampled_from(names)): draw(_bad_param)}
        else:  # a width on an op that keeps its input's
            target.update(op=draw(st.sampled_from(SAME_WIDTH_OPS)), width=draw(st.integers(1, 64)))
            target.pop("params", None)
    else:
        field = draw(st.sampled_from(["pool_size", "hidden widths", "hidden layers", "dropout", "act"]))
        bad = {
            "pool_size": _out_of(1, 64),
            "hidden widths": st.lists(_out_of(1, MAX_WIDTH), min_size=1, max_size=3),
            "hidden layers": st.lists(st.integers(1, 64), min_size=MAX_HEAD_LAYERS + 1, max_size=12),
            "dropout": st.sampled_from([math.nan, math.inf, -math.inf, 1.0])
            | st.floats(min_value=1.0)
            | st.floats(max_value=-1e-9),
            "act": _word_not_in(HEAD_ACTS),
        }[field]
        target[field.split()[0]] = draw(bad)
    return doc


@st.composite
def shrunk_to_nothing(draw) -> dict:
    """A valid seed whose stem strides (the 8x8 input is 4x4 or less after it), with a stage of strided
    unpadded pooling or convolution, kernel 5 or 7, inserted somewhere: the resolution falls below a pixel."""
    doc = _seed(draw)
    doc["stem"]["stride"] = draw(st.integers(2, MAX_STRIDE))
    at = draw(st.integers(0, len(doc["stages"])))
    width = ([doc["stem"], *doc["stages"]][at])["width"]
    node = {
        "op": draw(st.sampled_from(["maxpool", "avgpool", "conv"])),
        "params": {"kernel": draw(st.sampled_from([5, 7])), "padding": 0},
    }
    doc["stages"].insert(at, {"width": width, "stride": draw(st.integers(1, MAX_STRIDE)), "nodes": [node]})
    return doc


@st.composite
def outside_the_space(draw) -> dict:
    """A valid seed that still builds but uses an op the space does not: a stage of global pooling inserted
    (alone, or followed by identities), or one stage node's op replaced by it."""
    doc = _seed(draw)
    op = draw(st.sampled_from(OUTSIDE_OPS))
    if draw(st.integers(0, 3)):
        at = draw(st.integers(0, len(doc["stages"])))
        width = ([doc["stem"], *doc["stages"]][at])["width"]
        nodes = [{"op": op}] + [{"op": "identity", "inputs": [j]} for j in range(draw(st.integers(0, 2)))]
        doc["stages"].insert(at, {"width": width, "stride": 1, "nodes": nodes})
    else:
        stage = doc["stages"][draw(st.integers(0, len(doc["stages"]) - 1))]
        node = stage["nodes"][draw(st.integers(0, len(stage["nodes"]) - 1))]
        node["op"] = op
        node.pop("width", None)
        node.pop("params", None)
    return doc


@st.composite
def members(draw) -> dict:
    """A genotype sampled from the space, its head given other values inside the ranges."""
    doc = SPACE.sample(random.Random(draw(st.integers(0, 2**32 - 1)))).to_dict()
    head = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "pool_size": st.integers(1, 8),
                "hidden": st.lists(st.integers(1, 256), max_size=3),
                "dropout": st.floats(0.0, 0.99),
                "act": st.sampled_from(HEAD_ACTS),
            },
        )
    )
    doc["head"].update(head)
    return doc


# ---------------------------------------------------------------- each layer reached, and its share refused

AIMED = {  # family -> (its documents, where they should stop, the least share that must stop there)
    "unreadable stem": (unreadable("stem"), "parse:stem", 0.95),
    "unreadable stage": (unreadable("stage"), "parse:stage", 0.95),
    "unreadable node": (unreadable("node"), "parse:node", 0.95),
    "unreadable head": (unreadable("head"), "parse:head", 0.95),
    "unbuildable stem": (unbuildable("stem"), "shapes:stem", 0.9),
    "unbuildable stage": (unbuildable("stage"), "shapes:stage", 0.9),
    "unbuildable node": (unbuildable("node"), "shapes:node", 0.9),
    "unbuildable head": (unbuildable("head"), "shapes:head", 0.9),
    "shrunk to nothing": (shrunk_to_nothing(), "shapes:below 1 pixel", 0.9),
    "outside the space": (outside_the_space(), "space", 0.6),  # the rest: global pooling where shapes forbid it
    "members of the space": (members(), "valid", 1.0),
}
EXAMPLES = 200


def _below_a_pixel(seen: str, message: str) -> str:
    """Shape refusals because the resolution fell below a pixel, told apart from the other shape refusals."""
    return "shapes:below 1 pixel" if seen.startswith("shapes:") and "below 1 pixel" in message else seen


@pytest.mark.parametrize("family", list(AIMED))
def test_documents_aimed_at_one_layer_are_refused_there_and_only_with_genotype_error(family):
    strategy, aim, least = AIMED[family]
    seen = run(strategy, EXAMPLES, _below_a_pixel if aim == "shapes:below 1 pixel" else None)
    assert share(seen, aim) >= least, seen


def _paths(d, prefix=()):
    """Every path to a value in a nested dict/list document."""
    yield prefix
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        yield from _paths(v, (*prefix, k))


def _same_kind(value):
    """Hostile values of the value's own JSON type."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-3, 40) | st.sampled_from([0, -1, 2**31, 2**63, 10**30, -(10**30)])
    if isinstance(value, float):
        return st.floats(allow_nan=True, allow_infinity=True)
    if isinstance(value, str):
        return st.sampled_from(TOKENS) | st.text(max_size=6)
    if isinstance(value, list):  # node indices, or its own items (nodes, stages) dropped, repeated, reordered
        indices = st.lists(st.integers(-3, 12), max_size=6)
        if not value or not isinstance(value[0], dict):
            return indices
        return st.lists(st.sampled_from(value), max_size=len(value) + 2)
    # an object: some of its own fields (a required one may go)
    return (
        st.sets(st.sampled_from(sorted(value))).map(lambda keys: {k: v for k, v in value.items() if k in keys})
        if value
        else st.just({})
    )


def _mutate(doc, draw):
    doc = copy.deepcopy(doc)
    path = draw(st.sampled_from(list(_paths(doc))[1:]))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    how = draw(st.sampled_from(["same kind"] * 3 + ["replace", "drop", "add"]))
    if how == "same kind":  # a value of the right type, but hostile: gets past parsing, into validation
        parent[path[-1]] = draw(_same_kind(parent[path[-1]]))
    elif how == "replace":
        parent[path[-1]] = draw(documents)
    elif how == "drop":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(KEYS) | st.text(max_size=6))] = draw(documents)
    else:
        parent.insert(path[-1], draw(documents))
    return doc


# ---------------------------------------------------------------- undirected fuzzing


def test_any_json_document_raises_only_genotype_error():
    seen = run(documents | genotype_keyed, 400)
    # nothing arbitrary is a genotype: refused while reading it, at the top level or in the stem and stages
    assert share(seen, "parse") >= 0.95 and share(seen, "parse:genotype") >= 0.2, seen
    assert share(seen, "parse:stem") >= 0.15 and share(seen, "parse:stage") >= 0.15, seen


def test_any_bytes_raise_only_genotype_error():
    seen = run(st.binary(max_size=200), 400)
    assert share(seen, "parse") == 1 and share(seen, "parse:json") >= 0.9, seen


@pytest.mark.parametrize(
    ("times", "most_parse", "least_shapes", "least_valid"),
    [(1, 0.65, 0.25, 0.05), (2, 0.8, 0.15, 0.01)],
    ids=["once", "twice"],
)
def test_mutated_valid_genotypes_raise_only_genotype_error(times, most_parse, least_shapes, least_valid):
    @st.composite
    def mutated(draw):
        doc = draw(st.sampled_from(VALID))
        for _ in range(times):
            doc = _mutate(doc, draw)
        return doc

    seen = run(mutated(), 400)
    # many edits keep the JSON types and get past reading into shape inference; some leave the genotype valid
    assert share(seen, "parse") <= most_parse and share(seen, "shapes") >= least_shapes, seen
    assert share(seen, "valid") >= least_valid, seen


def test_the_valid_seeds_are_valid():
    for doc in VALID:
        g = Genotype.from_json(json.dumps(doc))
        assert ss.validate(g, 1, 10, 8) and g.to_dict() == doc


def _stage(nodes, **kw):
    return {"width": 8, "stride": 1, "nodes": nodes, **kw}


def _genotype(stage=None, **kw):
    doc = {"stem": _stage([{"op": "conv", "inputs": [-1]}]), "stages": [stage or _stage([{"op": "conv"}])]}
    return json.dumps(doc | kw)


HOSTILE = {
    "cycle": (_genotype(_stage([{"op": "conv", "inputs": [1]}, {"op": "conv", "inputs": [0]}])), "cycle"),
    "self loop": (_genotype(_stage([{"op": "conv", "inputs": [0]}])), "reads itself"),
    "unknown op": (_genotype(_stage([{"op": "os.system('rm -rf /')"}])), "unknown op"),
    "string width": (_genotype(_stage([{"op": "conv"}], width="64")), "must be an integer"),
    "float stride": (_genotype(_stage([{"op": "conv"}], stride=1.5)), "must be an integer"),
    "huge width": (_genotype(_stage([{"op": "conv"}], width=10**18)), "width must be in"),
    "negative stride": (_genotype(_stage([{"op": "conv"}], stride=-2)), "stride must be in"),
    "huge kernel": (_genotype(_stage([{"op": "conv", "params": {"kernel": 10**9}}])), "kernel"),
    "nan dropout": ('{"stem": {"width": 8, "nodes": [{"op": "conv"}]}, "stages": [], "head": {"dropout": NaN}}', "dropout"),
    "huge integer literal": ('{"stem": {"width": ' + "9" * 5000 + ', "nodes": []}, "stages": []}', "not valid JSON"),
    "deep list": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "deep object": ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
    "list at top": ("[1, 2, 3]", "must be an object"),
    "string at top": ('"resnet50"', "must be an object"),
    "not utf-8": (b'{"stem": "\xff\xfe"}', "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "unknown field": (_genotype(format=1, extra={"__class__": "x"}), "unknown field"),
    "dangling output": (_genotype(_stage([{"op": "conv"}], outputs=[5])), "does not exist"),
    "ws genes lie": (
        _genotype(_stage([{"op": "conv"}] * 4, wiring={"kind": "ws", "k": 99, "p": 0.5, "seed": 1})),
        "ws wiring needs",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hand_made_hostile_genotypes_are_refused_with_a_reason(case):
    text, message = HOSTILE[case]
    with pytest.raises(GenotypeError) as info:
        read_and_validate_strict(text)
    assert message.lower() in str(info.value).lower(), str(info.value)


def read_and_validate_strict(text: str | bytes) -> None:
    g = Genotype.from_json(text)
    ss.validate(g, 1, 10, 8)


@pytest.mark.parametrize(
    "case", ["cycle", "unknown op", "huge integer literal", "deep object", "not utf-8", "nan dropout"]
)
def test_launch_train_answers_a_hostile_genotype_file_with_one_line(tmp_path, capsys, case):
    text, message = HOSTILE[case]
    path = tmp_path / "genotype.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code = main(
        ["train", str(path), "--engine", "local", "--epochs", "1", "--limit", "300", "--results-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message.lower() in err.lower(), err
    assert not (tmp_path / "train-genotype").exists()  # refused before anything was written
