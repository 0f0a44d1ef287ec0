"""Settling comparisons look by look: a group-sequential, paired-by-seed design whose tests
hold whatever the scores' distribution.

Each comparison (A against B, paired by seed) ends as `a_better`, `b_better`, `equivalent`
(within +-margin) or `undecided` at the seed budget; each look adds seeds only to the comparisons
still undecided.

The tests: paired sign-flip (randomization) tests of the per-seed differences d = A - B.
- Why not the t-test: at the edge of stability a seed scores chance (0.10, diverged) or about
  0.85, not a normal draw. One side diverging on all 3 seeds gives d = 0.78 +- 0.005, t near 300,
  past any boundary. Where every placement diverges with probability 0.5 on every seed, the
  paired t design said "better" wrongly in 15% of the studies, and "equivalent" wrongly in 10%
  at the margin (96% at probability 0.9), against 5% promised (benchmarks/RESULTS.md).
- Superiority ("better" where the placements do not differ): were A and B exchangeable within a
  seed, each d would be as likely -d, so every pattern of flipped signs is as likely as the
  one observed. The two-sided p-value is the share of patterns whose |sum of d| reaches the
  observed one: exact for any distribution, normal, heavy-tailed, skewed, or a mix of diverged
  and trained seeds. The sum and the t statistic give the same test (the sum of d**2 does not
  change under flips). The price: n seeds cannot give p below 2 / 2**n (3 seeds all one way:
  0.25), so no comparison is decided before about 10 seeds (`min_seeds`).
- Equivalence (TOST): the same test of d + margin (above -margin) and of d - margin (below
  +margin), one-sided each, the larger p; only over the seeds where at least one side trained
  (`informative`: `reports.settling` marks them, reaching `STABLE_MIN_ACCURACY`; by default the
  nonzero differences). A seed where both diverged gives d = 0 exactly, -margin against the
  upper bound on every such seed: counted, "equivalent" could pass on seeds that merely agree
  (both sides diverging nearly always while the trained scores differ by 10 margins; the t
  design erred in 53% of the studies there). Left out, the test is of the mean difference over
  the seeds where a model trained; where both-failed seeds differ by nothing (both NaN, scored
  chance), the mean over all seeds is that mean times the share of such seeds, smaller, so the
  verdict holds for it too. The test is exact where those differences are symmetric about their
  mean, as when the noise of the two sides has the same shape, whatever the shape; otherwise
  (divergence mixed with training) approximate: one comparison at the margin with divergence
  probabilities 0.15 to 0.9 was called equivalent in at most 2 of 9,000 simulated studies each
  (a seed where only one side diverged, +-0.75 against a margin of 0.003, blocks the verdict,
  so where divergence is in play "equivalent" is rarely reached at all). What no test with 30
  seeds can rule out: a divergence rarer than about 1 / n per seed on one side only (0.004
  shifts the mean by a margin) appears in none of n seeds with probability near 1, so
  "equivalent" means "within the margin where a model trained, and no difference in
  divergence seen in n seeds".
- The sign patterns: every one of the 2**n while n <= GROUP_BITS; beyond, a fixed random
  subgroup of 2**GROUP_BITS patterns (`sign_patterns`). A randomization test over any group of
  transformations that leaves the null distribution unchanged is exact, so this one is exact
  for its one fixed draw (a Monte Carlo sample of patterns would be valid only on average over
  draws), and verdicts are reproducible. 2**13 patterns lost no power against 2**16 here.

How the errors are controlled:
- Two families, each at the full `alpha`, for two different errors: superiority ("better" where
  there is no difference, two-sided) and equivalence ("equivalent" where the difference is a
  full margin).
- Across looks, Lan-DeMets alpha spending on the information fraction n / max_seeds. A look's
  nominal level is its increment of the spending function since the comparison's previous
  look, at the comparison's Holm share. The increments add up to the share, so by the union
  bound an exact (or conservative) test errs at most at its share over all looks, whatever the
  dependence between them. The normal-theory boundaries, which count on the looks'
  correlation, overshot even for t statistics (benchmarks/RESULTS.md); the union bound costs
  little here since decisions come at 2-3 looks.
- Looks that cannot decide spend nothing. Below `first_decisive` seeds (the fewest at which
  the smallest possible p reaches the strictest Holm share, alpha / K, spent up to then) no
  look can reject anything: Holm's first rejection needs the strictest share, and every later
  one needs a first. `seeds_to_add` skips those looks, and the first look at or beyond it
  spends all the alpha from 0 (`look_level`), so nothing is lost to the discreteness of the
  early looks. Spending starts from 0 only where the previous look had fewer seeds than its
  own first decisive look (that of the family it had: a family can only grow), so no alpha is
  spent twice. The rule depends only on the design and K, not on the data nor on a
  comparison's share, so each look's level stays a fixed function of the share, increasing in
  it (Holm's shortcut needs that), and the levels add up to at most the share.
- Across comparisons, Holm as a sequentially rejective graphical procedure (Maurer & Bretz
  2013): each comparison is tested at alpha / (nulls still standing in its family); a verdict
  passes its alpha to the rest, whose levels are recomputed at the larger share, now and at
  later looks. Holm needs only valid p-values, so comparisons that share a side (A - B, A - C,
  B - C from the same seeds) are covered. A verdict counts only in its own family: alpha never
  crosses families.
- Where both nulls fall at once (a real difference shown smaller than the margin) the verdict
  is "equivalent": that is what the margin asks, and otherwise every tiny but real difference
  would turn "better" given enough seeds.

The default spending is Hwang-Shih-DeCani with gamma -2, chosen by simulation
(`python -m benchmarks.sequential`): with the default family (18) and schedule, the exact tests
can first reject at 12 seeds, where gamma -2 has spent a fifth of the level, enough for the
strictest share (2 / 2**12 <= 0.05 / 18 * 0.19). Gamma -4 (the t design's) and O'Brien-Fleming
spend too little by then and wait for 19 seeds: 20 seeds per comparison against 15.5, for power
0.945 against 0.939; gamma -1 and linear spending save half a seed more and lose equivalence
power. `min_seeds` gives each comparison the fewest seeds at which it could be decided, and
`seeds_to_add` skips the looks where none could (the default schedule goes 3 -> 12 -> 19 -> 30).

Compared, and not kept (benchmarks/RESULTS.md): AdaStop (Mathieu et al. 2023), permutation
tests whose boundaries come from the joint permutation distribution over looks, with a
max-statistic step-down: free of the union bound's slack, but its permutations are two-sample
(the pairing by seed is lost), its "equal" is "not shown different", not equivalence within a
margin, and adastop 0.1.3 on one learning rate's 3 placements (5 runs per look, 6 looks) said
"different" wrongly in 12.0% and 8.0% of 300 studies (normal; divergence 0.5), against 5%.
Divergence as its own outcome (an exact sign test on the seeds where exactly one side diverged,
and a sign-flip test of accuracy where both trained, Bonferroni-combined): two tests per
comparison halve each one's level, while the sign-flip test of the difference already counts a
one-sided divergence as a large difference of its sign; it needed 21.2 seeds per comparison
against 15.6 for the same power, and found a real difference in divergence (0.3 against 0.1)
a fifth as often.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reports import sign_flip
from reports.sign_flip import MARGIN, sign_flip_p_values, smallest_p
from reports.stats import ALPHA

MAX_SEEDS = 30
LOOK_GROWTH = 1.6  # the default schedule adds about 60% more seeds at each look
VERDICTS = ("undecided", "a_better", "b_better", "equivalent")  # index = code in `judge`


def _obrien_fleming(t, level):
    from scipy import stats  # seconds to load: only where a design is drawn up

    with np.errstate(divide="ignore"):
        return 2 * stats.norm.sf(stats.norm.isf(level / 2) / np.sqrt(t))


def _hwang_shih_decani(t, level, gamma: float):
    return level * np.expm1(-gamma * t) / np.expm1(-gamma)


SPENDING = {
    # The default: with the default family (18) and schedule, the first look at which the
    # exact tests can reject anything (12 seeds) gets a fifth of the level (module docstring).
    "hwang_shih_decani_-2": functools.partial(_hwang_shih_decani, gamma=-2.0),
    # gsDesign's default, and the paired t-test design's: the designs stored by earlier runs.
    "hwang_shih_decani": functools.partial(_hwang_shih_decani, gamma=-4.0),
    "obrien_fleming": _obrien_fleming,
}
DEFAULT_SPENDING = "hwang_shih_decani_-2"


def spending(t, level: float, shape: str):
    """Lan-DeMets cumulative alpha spent by information fraction `t` (clipped to [0, 1])."""
    return SPENDING[shape](np.clip(t, 0.0, 1.0), level)


def nominal_levels(times, level: float, shape: str) -> np.ndarray:
    """Each look's own level: its increment of `spending` (they add up to `level`).

    `times` are the information fractions of the looks so far, increasing.
    """
    return np.diff(spending(np.array([0.0, *times]), level, shape))


def _invalid(name: str, allowed: str, value) -> str:
    return f"The '{name}' parameter must be {allowed}. Got {value!r} instead."


def _is_schedule(looks, max_seeds: int) -> bool:
    ints = all(isinstance(n, numbers.Integral) for n in looks)
    increasing = ints and all(b > a for a, b in itertools.pairwise(looks))
    return not looks or (increasing and looks[0] >= 1 and looks[-1] == max_seeds)


def _check(name: str, value, kind, allowed: str, is_allowed) -> None:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(_invalid(name, allowed, value))
    if not is_allowed(value):
        raise ValueError(_invalid(name, allowed, value))


@dataclass(frozen=True)
class Design:
    """The plan of a settling study; stored with the run as `to_dict()`.

    Attributes:
        alpha: Family-wise error rate of each family (superiority, equivalence).
        margin: Differences within +-margin (accuracy) count as equivalent.
        max_seeds: The seed budget of each comparison.
        looks: Planned seeds per look, ending at `max_seeds`; () for the default schedule.
        spending: The alpha-spending shape, a key of `SPENDING`.
    """

    alpha: float = ALPHA
    margin: float = MARGIN
    max_seeds: int = MAX_SEEDS
    looks: tuple[int, ...] = ()
    spending: str = DEFAULT_SPENDING

    def __post_init__(self):
        in_unit = lambda v: 0 < v < 1  # noqa: E731 (False for NaN)
        _check("alpha", self.alpha, numbers.Real, "a float in (0, 1)", in_unit)
        _check("margin", self.margin, numbers.Real, "a float in (0, 1)", in_unit)
        _check("max_seeds", self.max_seeds, numbers.Integral, "an int >= 2", lambda v: v >= 2)
        planned = functools.partial(_is_schedule, max_seeds=self.max_seeds)
        allowed = f"() or strictly increasing ints >= 1 ending at max_seeds ({self.max_seeds})"
        _check("looks", self.looks, tuple | list, allowed, planned)
        _check("spending", self.spending, str, f"one of {sorted(SPENDING)}", SPENDING.__contains__)
        # Plain Python types, so that equal designs compare equal and to_dict() is JSON-ready.
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "margin", float(self.margin))
        object.__setattr__(self, "max_seeds", int(self.max_seeds))
        object.__setattr__(self, "looks", tuple(int(n) for n in self.looks))

    def schedule(self, first_seeds: int) -> tuple[int, ...]:
        """Seeds per look, from the first look's seeds (the grid's) to `max_seeds`.

        The default grows the seeds by about `LOOK_GROWTH` per look, evenly in log(n):
        3 -> (3, 5, 8, 12, 19, 30). Each look costs a round of training, so later looks, when
        most comparisons are settled, add more seeds at once.

        Raises:
            ValueError: If `first_seeds` is below 1 or above `max_seeds`.
        """
        if not isinstance(first_seeds, numbers.Integral) or first_seeds < 1:
            raise ValueError(_invalid("first_seeds", "an int >= 1", first_seeds))
        if first_seeds > self.max_seeds:
            allowed = f"an int >= the first look's seeds ({first_seeds})"
            raise ValueError(_invalid("max_seeds", allowed, self.max_seeds))
        if self.looks:
            return (int(first_seeds), *(n for n in self.looks if n > first_seeds))
        ratio = self.max_seeds / first_seeds
        steps = max(1, round(math.log(ratio) / math.log(LOOK_GROWTH)))
        planned = np.rint(first_seeds * ratio ** (np.arange(steps + 1) / steps))
        return tuple(int(n) for n in np.unique(planned))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `Design.from_dict` gives the same design back."""
        return {**dataclasses.asdict(self), "looks": list(self.looks)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Design:
        """Rebuild a design from `to_dict()` output.

        Raises:
            ValueError: If `d` has keys that are not design fields.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"Unknown Design fields {unknown}; allowed: {sorted(names)}.")
        return cls(**{**d, "looks": tuple(d.get("looks", ()))})


def first_decisive(design: Design, sided: int, family: int = 1) -> int:
    """The fewest seeds at which a test (two-sided for superiority, `sided` 2; the one-sided
    pair of equivalence, 1) could reject at the strictest Holm share of a family of `family`
    comparisons, alpha / family, spent up to then (`spending` at n / max_seeds). Below it no
    look can reject anything: no comparison's first rejection, so no other either. Those looks
    spend nothing (module docstring). `max_seeds + 1` where no look can."""
    n = np.arange(1, design.max_seeds + 1)
    share = design.alpha / max(1, family)
    reachable = smallest_p(n, sided) <= spending(n / design.max_seeds, share, design.spending)
    return int(n[reachable][0]) if reachable.any() else design.max_seeds + 1


def decisive_seeds(design: Design, family: int, family_before: int | None = None) -> tuple:
    """Per kind of verdict (superiority, equivalence): the first decisive seeds of this family,
    and the floor: those of the family at the previous look (`family_before`, default the same;
    a family can only grow), below which that look spent nothing."""
    before = family if family_before is None else family_before
    return tuple(
        (first_decisive(design, s, family), first_decisive(design, s, before)) for s in (2, 1)
    )


def look_level(before, now, level: float, design: Design, first: int, floor: int | None = None):
    """The nominal level of a look at `now` seeds after the comparison's look at `before`, for a
    test at `level` (its Holm share): the increment of the spending function since `before`, or
    since 0 where `before` is below `floor` (the first decisive seeds at that look, default
    `first`: nothing was spent there); 0 below `first` (no look there can decide) or without
    new seeds."""
    floor = first if floor is None else floor
    if now < first or now <= before:
        return 0.0
    times = np.minimum([before if before >= floor else 0, now], design.max_seeds)
    return float(nominal_levels(times / design.max_seeds, level, design.spending)[-1])


def _level_table(seeds, family: int, level: float, design: Design, first: tuple) -> np.ndarray:
    # Nominal levels by (seeds at the previous look, seeds now) and by the nulls still standing
    # (none standing: the level of the last one, which was rejected at it).
    table = np.zeros((len(seeds), family + 1))
    for i, (before, now) in enumerate(seeds):
        for standing in range(1, family + 1):
            table[i, standing] = look_level(before, now, level / standing, design, *first)
    table[:, 0] = table[:, min(1, family)]
    return table


def _tables(n, n_before, family: int, design: Design, first) -> tuple:
    """Each comparison's row in the level tables (by its seeds before and now), and the tables
    of the two families: nominal levels by row and by the nulls still standing."""
    keys, n_index = np.unique(n_before << 32 | n, return_inverse=True)
    seeds = np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=-1)  # (before, now) pairs
    tables = tuple(_level_table(seeds, family, design.alpha, design, f) for f in first)
    return n_index.reshape(n.shape), tables


def _holm(p, open_, settled, n_index, table):
    """Rejections at this look, letting alpha pass until no new one comes (step-down Holm)."""
    rejected = np.zeros_like(open_)
    while True:
        standing = open_.shape[-1] - (settled | rejected).sum(axis=-1, keepdims=True)
        level = table[n_index, standing]
        now = rejected | (open_ & (p <= level))  # a rejection stands, whatever comes after
        if (now == rejected).all():
            return rejected, level, standing
        rejected = now


def judge_p_values(p_superiority, direction, p_equivalence, n, n_before, codes, design, first=None):
    """One look from nominal p-values: the alpha spending and Holm steps under `judge`.

    `p_superiority` (two-sided), `direction` (sign of A - B), `p_equivalence` (TOST), `n`,
    `n_before` (the seeds at the comparison's previous look, 0 at the first) and `codes`
    (verdicts so far, indices into `VERDICTS`) have shape (..., K); `first` overrides
    `decisive_seeds`: per family (superiority, equivalence), the first decisive seeds and the
    floor. Returns the new codes and a dict of arrays: alpha_superiority and alpha_equivalence
    (the Holm share of the family level), level_superiority and level_equivalence (the p-value
    each verdict needed).
    """
    codes = np.asarray(codes, dtype=int)
    n, n_before = (
        np.broadcast_to(np.asarray(v, dtype=np.int64), codes.shape) for v in (n, n_before)
    )
    if first is None:
        first = decisive_seeds(design, codes.shape[-1])
    n_index, (sup_table, eq_table) = _tables(n, n_before, codes.shape[-1], design, first)
    open_ = codes == 0
    p_superiority, p_equivalence = np.asarray(p_superiority), np.asarray(p_equivalence)
    # Equivalence first: where both nulls fall, the verdict is "equivalent" (module docstring).
    equivalent, eq_level, eq_standing = _holm(p_equivalence, open_, codes == 3, n_index, eq_table)
    better, sup_level, sup_standing = _holm(
        p_superiority, open_ & ~equivalent, np.isin(codes, (1, 2)), n_index, sup_table
    )
    new = np.where(equivalent, 3, np.where(better, np.where(direction > 0, 1, 2), codes))
    columns = {
        "alpha_superiority": np.broadcast_to(design.alpha / np.maximum(sup_standing, 1), n.shape),
        "alpha_equivalence": np.broadcast_to(design.alpha / np.maximum(eq_standing, 1), n.shape),
        "level_superiority": sup_level,
        "level_equivalence": eq_level,
    }
    return new, columns


def judge(
    diffs,
    n_before,
    codes,
    design: Design,
    informative=None,
    exact: bool = True,
    family_before: int | None = None,
):
    """One look over arrays of comparisons: the engine under `decide`, vectorized for simulation.

    `diffs` has shape (..., K, n): each comparison's differences by seed, NaN for seeds it does
    not have; `informative` (same shape, bool, optional) the seeds that count for equivalence
    (default: nonzero differences). `n_before` (the seeds at the comparison's previous look, 0
    at the first; may be a scalar) and `codes` (verdicts so far, indices into `VERDICTS`) have
    shape (..., K): the K axis is the whole family, settled comparisons included; leading axes
    are independent studies; `family_before` is K at the previous look, if it was smaller.
    Only undecided comparisons are tested. With `exact` False,
    p-values above the largest level this look could use are left as lower bounds (the same
    verdicts, in less time). Returns the new codes and a dict of arrays: p_superiority
    (sign-flip, two-sided), p_equivalence (sign-flip TOST), n_seeds, informative_seeds, and
    `judge_p_values`'s alpha_* and level_* columns.
    """
    diffs = np.asarray(diffs, dtype=float)
    codes = np.asarray(codes, dtype=int)
    observed = ~np.isnan(diffs)
    if informative is None:
        informative = observed & (diffs != 0)
    else:
        informative = observed & np.broadcast_to(np.asarray(informative, dtype=bool), diffs.shape)
    n = observed.sum(axis=-1)
    n_before = np.broadcast_to(np.asarray(n_before, dtype=np.int64), codes.shape)
    first = decisive_seeds(design, codes.shape[-1], family_before)
    open_ = codes == 0
    p = np.full((2, *codes.shape), np.nan)
    direction = np.zeros(codes.shape)
    redo, caps = open_, np.ones(p.shape)
    if not exact:  # first only as far as the strictest Holm level of this look, then further
        n_index, tables = _tables(n, n_before, codes.shape[-1], design, first)
        settled = (np.isin(codes, (1, 2)), codes == 3)
        caps = np.stack(
            [
                t[n_index, s.shape[-1] - s.sum(-1, keepdims=True)]
                for t, s in zip(tables, settled, strict=True)
            ]
        )
        redo = open_ & (caps > 0).any(axis=0)  # no level at all: no verdict, p-values NaN
    new, columns = judge_p_values(p[0], direction, p[1], n, n_before, codes, design, first)
    while redo.any():
        p[0][redo], p[1][redo], direction[redo] = sign_flip_p_values(
            diffs[redo], informative[redo], design.margin, (caps[0][redo], caps[1][redo])
        )
        new, columns = judge_p_values(p[0], direction, p[1], n, n_before, codes, design, first)
        if exact:
            break
        # A p-value known only to exceed its cap must be found where the level has grown
        # past the cap (a verdict passed its alpha on); the same verdicts as exact p-values.
        levels = np.stack([columns["level_superiority"], columns["level_equivalence"]])
        redo = open_ & ((p > caps) & (levels > caps)).any(axis=0)
        caps = np.where(redo, np.maximum(levels, caps), caps)
    return new, {
        "p_superiority": p[0],
        "p_equivalence": p[1],
        "n_seeds": n,
        "informative_seeds": informative.sum(axis=-1),
        **columns,
    }


def min_seeds(
    design: Design, first_seeds: int, alpha_superiority, alpha_equivalence, family: int
) -> float:
    """The fewest seeds at which a comparison could be decided, at its Holm shares of the two
    family levels: the first planned look (`Design.schedule`) at which the smallest p-value the
    test can give reaches the level of a look there that nothing was spent before (as when the
    looks that could not decide are skipped, `seeds_to_add`). Where no planned look can, the
    seeds that one look at the whole shares would need (more than `max_seeds`: a run with that
    many fixed seeds); NaN where no number of seeds can."""
    firsts = decisive_seeds(design, family)
    for now in design.schedule(min(int(first_seeds), design.max_seeds)):
        superiority = look_level(0, now, alpha_superiority, design, *firsts[0])
        equivalence = look_level(0, now, alpha_equivalence, design, *firsts[1])
        if smallest_p(now, 2) <= superiority or smallest_p(now, 1) <= equivalence:
            return now
    needed = [
        math.ceil(math.log2(sided / share) - 1e-12)
        for sided, share in ((2, alpha_superiority), (1, alpha_equivalence))
        if 0 < share < math.inf and sided * 0.5**sign_flip.GROUP_BITS <= share
    ]
    return max(min(needed), design.max_seeds + 1) if needed else math.nan


COLUMNS = [
    "comparison", "look", "n_seeds", "informative_seeds", "mean_diff", "sd", "verdict",
    "decided_at_look", "p_superiority", "p_equivalence", "alpha_superiority",
    "alpha_equivalence", "level_superiority", "level_equivalence", "min_seeds", "needs_seeds",
    "first_seeds",
]  # fmt: skip


def decide(
    differences: pd.DataFrame, design: Design, previous: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One look: a verdict for every comparison not yet settled.

    Args:
        differences: Long frame: `comparison` (str), `seed` (int), `diff` (A - B), every seed
            observed so far for every comparison still of interest; optionally `informative`
            (bool): whether the seed counts for equivalence (at least one side trained; by
            default, a nonzero difference).
        design: The design.
        previous: What this function returned at the previous look; None at the first.
            Settled comparisons keep their row: never recomputed, even given more seeds.

    Returns:
        One row per comparison (`COLUMNS`): this look's index, n_seeds, informative_seeds (those
        that count for equivalence), mean_diff, sd, verdict (in `VERDICTS`), decided_at_look
        (NaN while undecided), the sign-flip p-values (p_superiority two-sided, p_equivalence
        TOST), the Holm shares of the family levels (alpha_*) and the p-value each verdict
        needed at this look (level_*, 0 where this look could make no verdict), min_seeds (the
        fewest seeds at which the comparison could be decided, `min_seeds`), needs_seeds
        (undecided, decidable within the budget, which is not spent) and first_seeds (the first
        look's seeds, which fix the schedule).

    Raises:
        ValueError: If a column is missing, a (comparison, seed) pair repeats, or a comparison
            undecided in `previous` has no differences.
    """
    missing = sorted({"comparison", "seed", "diff"} - set(differences.columns))
    if missing:
        raise ValueError(f"The 'differences' frame lacks the columns {missing}.")
    if differences.duplicated(["comparison", "seed"]).any():
        raise ValueError("The 'differences' frame must hold each (comparison, seed) once.")
    present = differences.dropna(subset=["diff"])
    summary = present.groupby("comparison", sort=True)["diff"].agg(
        n_seeds="size", mean_diff="mean", sd="std"
    )
    if previous is None or previous.empty:
        if summary.empty:
            return pd.DataFrame(columns=COLUMNS)
        look, first, settled = 0, int(summary["n_seeds"].max()), pd.DataFrame(columns=COLUMNS)
        seeds_before = {}
    else:
        look, first = int(previous["look"].max()) + 1, int(previous["first_seeds"].iloc[0])
        settled = previous[previous["verdict"] != "undecided"]
        waiting = set(previous["comparison"]) - set(settled["comparison"]) - set(summary.index)
        if waiting:
            raise ValueError(f"Undecided comparisons have no differences: {sorted(waiting)}.")
        seeds_before = dict(zip(previous["comparison"], previous["n_seeds"], strict=True))
    verdict_of = dict(zip(settled["comparison"], settled["verdict"], strict=True))
    family = sorted(set(summary.index) | set(verdict_of))
    rows = summary.reindex(family)
    by_seed = present.pivot(index="comparison", columns="seed", values="diff").reindex(family)
    informative = None
    if "informative" in present:
        counts = present.pivot(index="comparison", columns="seed", values="informative")
        informative = counts.reindex(index=family, columns=by_seed.columns).fillna(False)
        informative = informative.to_numpy(bool)
    codes = np.array([VERDICTS.index(verdict_of.get(c, "undecided")) for c in family])
    n_before = np.array([seeds_before.get(c, 0) for c in family])
    before = len(previous) if previous is not None and len(previous) else None
    new, columns = judge(
        by_seed.to_numpy(float), n_before, codes, design, informative, True, before
    )
    least = [
        min_seeds(design, first, s, e, len(family))
        for s, e in zip(columns["alpha_superiority"], columns["alpha_equivalence"], strict=True)
    ]
    n = columns.pop("n_seeds")
    frame = rows.assign(
        n_seeds=n,
        look=look,
        verdict=[VERDICTS[c] for c in new],
        decided_at_look=np.where(new != 0, look, np.nan),
        min_seeds=least,
        needs_seeds=(new == 0) & (n < design.max_seeds) & (np.array(least) <= design.max_seeds),
        first_seeds=first,
        **columns,
    ).reset_index()
    frame = frame[~frame["comparison"].isin(verdict_of)]
    if len(settled):  # stored by an older version, a settled row may lack newer columns
        frame = pd.concat([frame, settled.reindex(columns=COLUMNS).assign(look=look)])
    return frame.sort_values("comparison")[COLUMNS].reset_index(drop=True)


def decision_frame(records: list[dict]) -> pd.DataFrame:
    """A look's stored decisions (JSON records) as `decide` returned them, also when there were
    none (a run with nothing to compare)."""
    return pd.DataFrame(records) if records else pd.DataFrame(columns=COLUMNS)


def seeds_to_add(decisions: pd.DataFrame, design: Design) -> int:
    """The seeds the next look should reach, or 0 when done: the next value of the schedule at
    which some undecided comparison could be decided (`min_seeds`), so that looks where none
    could are skipped."""
    waiting = decisions[decisions["needs_seeds"].astype(bool)]
    if waiting.empty:
        return 0
    reached = int(waiting["n_seeds"].max())
    lowest = waiting["min_seeds"].min() if "min_seeds" in waiting else 0
    schedule = design.schedule(int(decisions["first_seeds"].iloc[0]))
    return next((n for n in schedule if n > reached and n >= lowest), design.max_seeds)
