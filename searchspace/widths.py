"""The blocks' width rules, in plain Python: one definition for the blocks, the registry's shape
rules (which must work without torch) and exported models (which copy it verbatim)."""

from __future__ import annotations

NAIVE_SPLITS = ("1:1:1", "2:4:1", "1:2:2")  # naive Inception's 1x1:3x3:5x5 shares (2:4:1 is GoogLeNet 3a's)
MIN_BRANCH = 4  # the narrowest conv branch of naive Inception


def inception_naive_widths(width: int, b1: int, b3: int, b5: int, split: str) -> tuple[int, int, int]:
    """Naive Inception's conv branch widths: b1, b3, b5 when given, else `width` (at least 3 x MIN_BRANCH)
    shared out by `split`, each branch at least MIN_BRANCH, summing to it exactly. The block outputs its input
    plus these, so the rule gives the same widths again from its own sum (the builder passes the block its
    output width, and the block takes the conv branches' total as output - input)."""
    if b1 or b3 or b5:
        return b1, b3, b5
    shares = [int(x) for x in split.split(":")]
    rest = max(width, 3 * MIN_BRANCH) - 3 * MIN_BRANCH
    p1, p3, p5 = (rest * s // sum(shares) for s in shares)
    return MIN_BRANCH + p1, MIN_BRANCH + p3 + rest - (p1 + p3 + p5), MIN_BRANCH + p5  # the remainder to the 3x3


def inception_widths(out_ch: int, b1: int, b3r: int, b3: int, b5r: int, b5: int, pool_proj: int) -> tuple[int, ...]:
    """Inception's branch widths; all zero means GoogLeNet 3a's proportions of out_ch."""
    if b1 or b3r or b3 or b5r or b5 or pool_proj:
        return b1, b3r, b3, b5r, b5, pool_proj
    b1, b3, b5 = max(1, out_ch // 4), max(1, out_ch // 2), max(1, out_ch // 8)
    return b1, max(1, 3 * out_ch // 8), b3, max(1, out_ch // 16), b5, max(1, out_ch - b1 - b3 - b5)


def inception_v3_widths(out_ch: int, b1: int, r: int, b: int, pool_proj: int) -> tuple[int, int, int, int]:
    """Inception-v3's branch widths; all zero means a quarter of out_ch each (two factorized branches)."""
    if b1 or r or b or pool_proj:
        return b1, r, b, pool_proj
    q = max(1, out_ch // 4)
    return q, max(1, out_ch // 8), q, max(1, out_ch - 3 * q)


def transition_width(in_ch: int, compression: float) -> int:
    """A dense transition's output width: floor(compression * in_ch), at least 1."""
    return max(1, int(in_ch * compression))
