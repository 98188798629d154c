"""scikit-learn's digits: 1,797 real 8x8 handwritten digits shipped in the package; the embedded default."""

from __future__ import annotations

import numpy as np

from nas.data.registry import Request, source
from nas.data.splits import Pool, Step, carve_test

DIGIT_CLASSES = tuple(str(i) for i in range(10))
_SOURCE = "sklearn.datasets.load_digits().images[i]: float64 (8, 8), values 0..16"
_STEPS: tuple[Step, ...] = (  # what `load` does, as preprocessing steps
    {"op": "multiply", "by": 255 / 16},
    {"op": "round"},
    {"op": "clip", "min": 0, "max": 255},
    {"op": "cast", "dtype": "uint8"},
    {"op": "expand_dims", "axis": 0},
)


@source("digits")
def load(req: Request) -> Pool:
    """scikit-learn's 1797 8x8 handwritten digits (values 0..16 scaled to 0..255)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.images * (255 / 16)).clip(0, 255).astype(np.uint8)[:, None]
    y = bunch.target.astype(np.int64)
    return Pool("digits", *carve_test("digits", x, y), 10, False, 1, DIGIT_CLASSES, _SOURCE, _STEPS)
