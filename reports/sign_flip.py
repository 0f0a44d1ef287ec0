"""The paired sign-flip (randomization) test, vectorized over many comparisons: the test behind
every settling verdict (`reports.sequential`, whose docstring says why this test).

If A and B are exchangeable within a seed, each difference d = A - B is as likely as -d, so
every pattern of flipped signs is as likely as the one observed: the p-value is the share of
patterns whose flipped sum reaches the observed one. With every pattern (up to `GROUP_BITS`
seeds) it is scipy's exact paired permutation test (`scipy.stats.permutation_test` with
`permutation_type="samples"`, which the tests check it against); beyond, a fixed subgroup of
patterns keeps it exact and reproducible. It is written out here because a study is decided by
thousands of such tests at once (and simulated by millions), which one call each cannot do.
"""

from __future__ import annotations

import functools

import numpy as np

MARGIN = 0.003  # accuracy, i.e. 0.3 accuracy points: the equivalence margin by default


# Sign patterns of the randomization test: every pattern up to GROUP_BITS seeds, then a random
# subgroup of 2**GROUP_BITS patterns drawn once per seed count from GROUP_SEED.
GROUP_BITS = 13
GROUP_SEED = 26
_TIES = 1e-9  # relative: flipped sums this close to the observed one count as ties (as >=)
_CELLS = 1 << 21  # flipped sums computed at once (memory: 16 MiB per array)
_BLOCK = 256  # the fewest patterns tried at once


def _gf2_rank(bits: np.ndarray) -> int:
    rows, rank = [int("".join(map(str, r)), 2) for r in bits], 0
    while rows:
        pivot = rows.pop()
        if pivot:
            rank += 1
            top = pivot.bit_length() - 1
            rows = [r ^ pivot if r >> top & 1 else r for r in rows]
    return rank


@functools.cache
def sign_patterns(n: int) -> np.ndarray:
    """The sign patterns the test of `n` seeds flips the differences by: +-1, one row each.

    Up to `GROUP_BITS` seeds every one of the 2**n patterns. Beyond, a subgroup of 2**GROUP_BITS
    patterns (closed under elementwise product): the span of `GROUP_BITS` independent random
    rows over GF(2), the first of them all -1 (so each pattern's mirror is in the group), drawn
    from `default_rng([GROUP_SEED, n])`. A randomization test over any fixed group of
    transformations that leaves the null distribution unchanged is exact, so this one is exact
    for its fixed draw too, not only on average over draws as a Monte Carlo sample is, and the
    verdicts are the same on every machine and in every order. The first row is the identity.
    """
    if n <= GROUP_BITS:
        basis = np.eye(n, dtype=np.int64)
    else:
        rng = np.random.default_rng([GROUP_SEED, n])
        while True:
            drawn = rng.integers(0, 2, size=(GROUP_BITS - 1, n))
            basis = np.vstack([np.ones((1, n), dtype=np.int64), drawn])
            if _gf2_rank(basis) == GROUP_BITS:
                break
    k = len(basis)
    combinations = (np.arange(2**k)[:, None] >> np.arange(k)) & 1
    signs = 1.0 - 2.0 * ((combinations @ basis) % 2)
    signs.flags.writeable = False
    return signs


def smallest_p(n, sided: int = 2):
    """The smallest p-value the test can give with `n` seeds (no difference 0): 2**-n one-sided,
    twice that two-sided, floored by the subgroup's size beyond `GROUP_BITS` seeds."""
    bits = np.minimum(np.asarray(n), GROUP_BITS)
    return np.where(bits >= 1, sided * 0.5**bits, 1.0)


def _counts(flips, observed, ties, upper: bool) -> np.ndarray:
    if upper:
        return np.count_nonzero(flips >= observed - ties, axis=1)
    return np.count_nonzero(flips <= observed + ties, axis=1)


def _flip_p_values(d, w, margin: float, caps) -> np.ndarray:
    """Sign-flip p-values of rows of `d` (n seeds each, no NaN), `w` the seeds that count for
    equivalence: two-sided against 0, one-sided against -margin (H0: mean <= -margin) and
    +margin (H0: mean >= margin); shape (3, rows). The patterns go in blocks: a row leaves once
    its count passes `caps` (per test and row, as p-values), where its p-value is only known to
    be above the cap (the count so far, a lower bound)."""
    signs = sign_patterns(d.shape[1])
    size = len(signs)
    limit = np.floor(np.asarray(caps, dtype=float) * size + 1e-9)
    kept, on = d * w, w.astype(float)
    every = w.all(axis=1)  # every seed counts: one product serves both kinds of test
    observed = np.stack([d.sum(1), (kept + margin * on).sum(1), (kept - margin * on).sum(1)])
    ties = _TIES * np.stack([np.abs(d).sum(1), *[(np.abs(kept) + margin * on).sum(1)] * 2])
    counts = np.zeros((3, len(d)), dtype=np.int64)
    block = max(_BLOCK, _CELLS // max(1, len(d)))
    for start in range(0, size, block):
        over = counts > limit  # settled: known to be above its cap
        superiority, equivalence = ~over[0], ~(over[1] | over[2])
        rows = np.flatnonzero(superiority | equivalence)
        if not len(rows):
            break
        part = signs[start : start + block]
        flips = d[rows] @ part.T
        these = superiority[rows]
        counts[0, rows[these]] += _counts(
            np.abs(flips[these]),
            np.abs(observed[0, rows[these], None]),
            ties[0, rows[these], None],
            True,
        )
        groups = []
        plain = equivalence[rows] & every[rows]  # every seed counts: the same sums serve
        if plain.any():
            groups.append((rows[plain], flips[plain], margin * part.sum(1)))
        mixed = rows[equivalence[rows] & ~every[rows]]
        if len(mixed):
            groups.append((mixed, kept[mixed] @ part.T, margin * (on[mixed] @ part.T)))
        for these, sums, spread in groups:
            for test, shifted, upper in ((1, sums + spread, True), (2, sums - spread, False)):
                counts[test, these] += _counts(
                    shifted, observed[test, these, None], ties[test, these, None], upper
                )
    return counts / size


def sign_flip_p_values(diffs, informative=None, margin: float = MARGIN, caps=(1.0, 1.0)):
    """The paired sign-flip tests of each row of per-seed differences: the engine of `judge`.

    Args:
        diffs: Shape (..., n): differences A - B by seed, NaN where a seed is missing.
        informative: Same shape, bool: the seeds that count for equivalence; default the
            nonzero differences (see the module docstring).
        margin: The equivalence margin.
        caps: The largest p-value that matters, for superiority and for equivalence (scalars
            or of shape diffs.shape[:-1]): above it, a p-value is only known to be larger than
            the cap (saves time in simulation; 1, the default, gives every p-value exactly).

    Returns:
        p_superiority (two-sided, against no difference), p_equivalence (TOST: the larger of the
        two one-sided p-values against -margin and +margin) and the sign of the sum of the
        differences, each of shape diffs.shape[:-1]. No seed: p-values 1.
    """
    diffs = np.asarray(diffs, dtype=float)
    observed = ~np.isnan(diffs)
    informative = observed & (diffs != 0 if informative is None else np.asarray(informative, bool))
    shape = diffs.shape[:-1]
    # Observed seeds first, in their order: the patterns act on positions.
    order = np.argsort(~observed, axis=-1, kind="stable")
    d = np.take_along_axis(np.where(observed, diffs, 0.0), order, -1).reshape(-1, diffs.shape[-1])
    w = np.take_along_axis(informative, order, -1).reshape(d.shape)
    n = observed.reshape(d.shape).sum(axis=-1)
    sup, eq = (np.broadcast_to(c, shape).reshape(-1) for c in caps)
    p = np.ones((3, len(n)))
    for seeds in np.unique(n[n > 0]):
        rows = n == seeds
        caps_here = (sup[rows], eq[rows], eq[rows])
        p[:, rows] = _flip_p_values(d[rows, :seeds], w[rows, :seeds], margin, caps_here)
    return (
        p[0].reshape(shape),
        np.maximum(p[1], p[2]).reshape(shape),
        np.sign(d.sum(1)).reshape(shape),
    )
