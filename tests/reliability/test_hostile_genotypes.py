"""Hostile genotype JSON: whatever the document, reading and validating raise GenotypeError and nothing else.

Hypothesis generates arbitrary JSON documents and byte strings, and mutations of valid genotypes (a
leaf or a subtree replaced by a wrong type, a huge or negative number, NaN, a deep nest; a key
dropped or added). Hand-made cases cover cycles, unknown ops and documents nested 100,000 deep, and
the CLI (`launch.py train GENOTYPE.json`) answers each with one line and exit code 2.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import searchspace as ss
from nas.cli import main
from searchspace.genotype import Genotype, GenotypeError

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPACE = ss.SearchSpace(in_channels=1, num_classes=10, input_size=8, widths=(8, 16))
VALID = [SPACE.sample(random.Random(i)).to_dict() for i in range(8)]  # every wiring: chain, residual, dense, ws

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["conv", "sum", "concat", "ws", "chain", -1, 0, 1, 2**31, 2**63, 10**30, 1e308, -1e308])
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=40,
)
KEYS = ["stem", "stages", "head", "width", "stride", "nodes", "op", "inputs", "merge", "params", "outputs",
        "out_merge", "wiring", "kind", "k", "p", "seed", "pool_size", "hidden", "dropout", "act", "kernel"]  # fmt: skip


def read_and_validate(text: str | bytes) -> str:
    """What every entry point does with a user's genotype; only GenotypeError may come out.

    Returns how far the document got: "parse" (refused reading it), "shapes" (refused by shape
    inference at the search's input), "space" (refused by the search space), or "valid".
    """
    stage = "parse"
    try:
        g = Genotype.from_json(text)
        stage = "shapes"
        ss.validate(g, 1, 10, 8)
        stage = "space"
        SPACE.validate(g)
        g.fingerprint()
        return "valid"
    except GenotypeError as e:
        assert str(e).strip() and "\n" not in str(e).strip()  # one line that says something
        return stage


@SETTINGS
@given(documents)
def test_any_json_document_raises_only_genotype_error(doc):
    read_and_validate(json.dumps(doc))


@SETTINGS
@given(st.binary(max_size=200))
def test_any_bytes_raise_only_genotype_error(data):
    read_and_validate(data)


# Documents shaped like genotypes, every part of the right JSON type most of the time but hostile in its
# values: they get past reading into shape inference and the space's checks, where the arbitrary
# documents above almost all stop at the first type check.
_int = st.integers(-2, 70) | st.sampled_from([8, 16, 2**31, 2**63, 10**18, -(10**9)])
_any = _int | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(["x", "3", True, None])
_params = st.dictionaries(
    st.sampled_from(["kernel", "groups", "dilation", "norm", "act", "order", "p", "b1", "b3", "ratio", "up", "bias"]),
    _any | st.sampled_from(["bn", "gn", "none", "relu", "gelu", "post", "pre"]),
    max_size=2,
)
_node = st.fixed_dictionaries(
    {"op": st.sampled_from(TOKENS_OPS := [*ss.ops.names(), "conv", "conv", "sepconv", "nope", ""])},
    optional={
        "inputs": st.lists(st.integers(-2, 5), max_size=3),
        "width": _int,
        "merge": st.sampled_from(["sum", "mean", "wsum", "concat", "product"]),
        "params": _params,
    },
)
_wiring = st.fixed_dictionaries(
    {"kind": st.sampled_from(["chain", "residual", "dense", "ws", "spiral"])},
    optional={"k": st.integers(-1, 8), "p": (st.floats(-1, 2) | st.just(float("nan"))), "seed": _int},
)
_stage = st.fixed_dictionaries(
    {
        "width": st.one_of(st.sampled_from([8, 16]), st.sampled_from([8, 16]), _int),
        "nodes": st.lists(_node, max_size=3),
    },
    optional={
        "stride": st.integers(-1, 3),
        "wiring": _wiring,
        "outputs": st.lists(st.integers(-2, 5), max_size=2),
        "out_merge": st.sampled_from(["sum", "concat", "x"]),
    },
)
_head = st.fixed_dictionaries(
    {},
    optional={
        "pool_size": st.integers(-1, 9),
        "hidden": st.lists(_int, max_size=2),
        "dropout": (st.floats(-1, 2) | st.just(float("nan"))),
        "act": st.sampled_from(["relu", "tanh", "gelu", "x"]),
    },
)
genotype_shaped = st.fixed_dictionaries(
    {"stem": _stage, "stages": st.lists(_stage, max_size=3)}, optional={"head": _head}
)


def test_genotype_shaped_hostile_documents_reach_every_check_and_raise_only_genotype_error():
    reached = Counter()

    @settings(SETTINGS, derandomize=True)  # the shares below are asserted: the same 400 documents every run
    @given(genotype_shaped)
    def check(doc):
        reached[read_and_validate(json.dumps(doc))] += 1

    check()
    total = sum(reached.values())
    # not a property whose inputs all stop at the first check: most get past reading into validation,
    # some are refused while reading, and some are valid all the way through (space check, fingerprint)
    assert total >= 300, reached
    assert reached["parse"] >= 3 and total - reached["parse"] >= 0.5 * total, reached
    assert reached["valid"] >= 3, reached


def _paths(d, prefix=()):
    """Every path to a value in a nested dict/list document."""
    yield prefix
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        yield from _paths(v, (*prefix, k))


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
    if isinstance(value, list):
        return st.lists(st.integers(-3, 12), max_size=6) | st.lists(st.sampled_from(TOKENS), max_size=3)
    return documents


def _mutate(doc, data):
    doc = copy.deepcopy(doc)
    path = data.draw(st.sampled_from(list(_paths(doc))[1:]))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    how = data.draw(st.sampled_from(["same kind", "same kind", "replace", "drop", "add"]))
    if how == "same kind":  # a value of the right type, but hostile: gets past parsing, into validation
        parent[path[-1]] = data.draw(_same_kind(parent[path[-1]]))
    elif how == "replace":
        parent[path[-1]] = data.draw(documents)
    elif how == "drop":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(st.sampled_from(KEYS) | st.text(max_size=6))] = data.draw(documents)
    else:
        parent.insert(path[-1], data.draw(documents))
    return doc


@SETTINGS
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_genotypes_raise_only_genotype_error(doc, data):
    read_and_validate(json.dumps(_mutate(doc, data)))


@SETTINGS
@given(st.sampled_from(VALID), st.data())
def test_twice_mutated_valid_genotypes_raise_only_genotype_error(doc, data):
    read_and_validate(json.dumps(_mutate(_mutate(doc, data), data)))


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
