"""What an export copies of a user's op: the names its source reads from its module, by Python's scoping.

The bug these guard against: README's Python block has a global ``x`` (the data) and an op whose
``forward(self, x)`` reads its parameter ``x``; a name-by-name scan took the parameter for the global
and refused to export (``op 'mixconv' uses x (ndarray)``).
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from nas.plugins import PluginError, free_names, op_sources

CASES = {
    "parameter": ("def f(x):\n    return x + y\n", {"y"}),
    "local": ("def f():\n    z = 1\n    return z + y\n", {"y"}),
    "comprehension variable": ("def f(n):\n    return [i * k for i in range(n)]\n", {"k", "range"}),
    "generator in a class body": ("class A:\n    v = sum(j for j in W)\n", {"sum", "W"}),
    "nested function sees its enclosing locals": (
        "def f(a):\n    b = 2\n    def g(c):\n        return a + b + c + d\n    return g\n",
        {"d"},
    ),
    "lambda": ("def f():\n    return lambda q: q * scale\n", {"scale"}),
    "class body names are not visible in methods": (
        "class A:\n    k = 3\n    def m(self):\n        return k\n",
        {"k"},
    ),
    "class body name used in the class body": ("class A:\n    k = 3\n    j = k + 1\n", set()),
    "base classes and decorators": ("@deco\nclass A(nn.Module):\n    pass\n", {"deco", "nn"}),
    "declared global": ("def f():\n    global G\n    G = 1\n    return G\n", {"G"}),
    "except and with targets": (
        "def f():\n    try:\n        pass\n    except E as err:\n        return err\n    with cm() as h:\n        return h\n",
        {"E", "cm"},
    ),
    "attribute names are not names": ("def f(self):\n    return self.x.y + torch.zeros(1)\n", {"torch"}),
    "annotations": ("def f(x: torch.Tensor) -> Out:\n    return x\n", {"torch", "Out"}),
    "a module statement reading what it rebinds": ("X = X + [Y]\n", {"X", "Y"}),
}


@pytest.mark.parametrize("source, expected", list(CASES.values()), ids=list(CASES))
def test_free_names_follow_pythons_scoping(source, expected):
    assert free_names(source) == expected


@pytest.fixture
def user_module(tmp_path):
    """Import a user's module from a file, as a notebook's helper module would be; gone again after the test."""
    names = []

    def load(text: str, name: str):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
        names.append(name)
        return __import__(name)

    sys.path.insert(0, str(tmp_path))
    yield load
    sys.path.remove(str(tmp_path))
    for name in names:
        sys.modules.pop(name, None)


def test_an_op_whose_parameter_shadows_a_global_array_exports(user_module):
    """README's case: a global ``x`` (an array, which model.py cannot carry) and ``forward(self, x)``."""
    mod = user_module(
        """
        import numpy as np
        import torch
        from torch import nn

        x = np.zeros(3)  # the script's data
        WIDTH = 2

        def helper(t):
            return t * WIDTH

        class Op(nn.Module):
            def forward(self, x):
                y = [x for x in (x, x)]
                return helper(torch.relu(y[0]))
        """,
        "user_op_shadow",
    )
    imports, defs = op_sources([mod.Op], set())
    assert sorted(imports) == ["from torch import nn as nn", "import torch"]
    text = "\n".join(defs)
    assert "class Op(nn.Module)" in text and "def helper(t)" in text and "WIDTH = 2" in text
    assert "np.zeros" not in text and not any("numpy" in i for i in imports)


def test_an_op_that_really_reads_a_global_array_is_refused(user_module):
    """The check still bites where the global is truly read."""
    mod = user_module(
        """
        import numpy as np
        from torch import nn

        table = np.zeros(3)

        class Op(nn.Module):
            def forward(self, inp):
                return inp + float(table[0])
        """,
        "user_op_reads_global",
    )
    with pytest.raises(PluginError, match=r"uses table \(ndarray\), which model.py cannot carry"):
        op_sources([mod.Op], set())
