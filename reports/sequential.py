"""Settling comparisons look by look: a group-sequential, paired-by-seed design.

Each comparison (A against B, paired by seed) ends as `a_better`, `b_better`, `equivalent`
(within +-margin) or `undecided` at the seed budget; each look adds seeds only to the comparisons
still undecided. How the errors are controlled:
- Two families, each at the full `alpha`, for two different errors: superiority ("better" where
  there is no difference: a paired t-test, alpha/2 per direction) and equivalence ("equivalent"
  where the difference is a full margin: the paired TOST).
- Across looks, Lan-DeMets alpha spending on the information fraction n / max_seeds. A look's
  nominal level is its increment of the spending function, turned into a t critical value with
  n - 1 degrees of freedom (nominal-p). The increments add up to the level, so by the union
  bound a test errs at most at its level, exactly, for any n >= 2. The usual normal-theory
  boundaries, which count on the looks' correlation, were tried: translated to t with 2-29
  degrees of freedom they overshoot (one comparison under the null erred 5.2% of the time, not
  5%), since t statistics with estimated variances are less correlated than normal theory
  says. The union bound costs almost nothing here, because these shapes spend most of the
  alpha at the last look (benchmarks/RESULTS.md).
- Across comparisons, Holm as a sequentially rejective graphical procedure (Maurer & Bretz
  2013): each comparison is tested at alpha / (nulls still standing in its family); a verdict
  passes its alpha to the rest, whose boundaries are recomputed at the larger level, now and
  at later looks. A verdict counts only in its own family: alpha never crosses families.
- Where both nulls fall at once (a real difference shown smaller than the margin) the verdict
  is "equivalent": that is what the margin asks, and otherwise every tiny but real difference
  would turn "better" given enough seeds.

The default spending is Hwang-Shih-DeCani (gamma -4), chosen over O'Brien-Fleming by simulation
(`python -m benchmarks.sequential`). The first look is the grid's ~3 seeds (t = 0.1): there
O'Brien-Fleming spends ~1e-23, so even a side diverging on every seed (t ~ 300 with 2 degrees
of freedom) waits for the third look; HSD(-4) spends 0.9% of the level, settles such
comparisons at once, and uses about a quarter fewer seeds per comparison for the same power.
No minimum seed count is needed: the union bound holds at 2 seeds. A difference with no spread
has an infinite t and passes any finite boundary: all differences 0 (both sides diverged) is
equivalent at the first look, the same nonzero difference on every seed is better.
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
from scipy import stats

from reports.stats import ALPHA

MARGIN = 0.003  # accuracy, i.e. 0.3 accuracy points
MAX_SEEDS = 30
HSD_GAMMA = -4.0  # gsDesign's default: O'Brien-Fleming-like, but spends a little early
LOOK_GROWTH = 1.6  # the default schedule adds about 60% more seeds at each look
VERDICTS = ("undecided", "a_better", "b_better", "equivalent")  # index = code in `judge`


def _obrien_fleming(t, level):
    with np.errstate(divide="ignore"):
        return 2 * stats.norm.sf(stats.norm.isf(level / 2) / np.sqrt(t))


def _hwang_shih_decani(t, level):
    return level * np.expm1(-HSD_GAMMA * t) / np.expm1(-HSD_GAMMA)


SPENDING = {"hwang_shih_decani": _hwang_shih_decani, "obrien_fleming": _obrien_fleming}


def spending(t, level: float, shape: str):
    """Lan-DeMets cumulative alpha spent by information fraction `t` (clipped to [0, 1])."""
    return SPENDING[shape](np.clip(t, 0.0, 1.0), level)


def nominal_levels(times, level: float, shape: str) -> np.ndarray:
    """Each look's own one-sided level: its increment of `spending` (they add up to `level`).

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
    spending: str = "hwang_shih_decani"

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


def t_statistics(mean, sd, n, margin: float):
    """Paired t statistics: against 0, and the TOST pair against -margin and +margin.

    With no spread (sd 0) a nonzero numerator gives +-inf, and "no difference at all" gives 0
    against 0 (no evidence of a direction).
    """
    se = np.asarray(sd, dtype=float) / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        against_zero = np.where((se == 0) & (mean == 0), 0.0, mean / se)
        return against_zero, (mean + margin) / se, (mean - margin) / se


def _critical_table(seeds, family: int, level: float, design: Design) -> np.ndarray:
    # t critical values by (seeds at the previous look, seeds now) and by the nulls still
    # standing. Spending from the comparison's own previous look keeps the union bound exact
    # whatever seeds it really had; no new seeds buys nothing (inf), as does no null standing.
    table = np.full((len(seeds), family + 1), np.inf)
    for i, (before, now) in enumerate(seeds):
        if now < 2:
            continue  # no test without a spread
        times = np.minimum([before, now], design.max_seeds) / design.max_seeds
        for standing in range(1, family + 1):
            nominal = nominal_levels(times, level / standing, design.spending)[-1]
            with np.errstate(divide="ignore"):
                table[i, standing] = stats.t.isf(nominal, now - 1) if now > before else np.inf
    return table


def _holm(passes, open_, settled, n_index, table):
    """Rejections at this look, letting alpha pass until no new one comes (step-down Holm)."""
    rejected = np.zeros_like(open_)
    while True:
        standing = open_.shape[-1] - (settled | rejected).sum(axis=-1, keepdims=True)
        critical = table[n_index, standing]
        now = rejected | (open_ & passes(critical))  # a rejection stands, whatever comes after
        if (now == rejected).all():
            return rejected, critical, standing
        rejected = now


def judge(mean, sd, n, n_before, codes, design: Design):
    """One look over arrays of comparisons: the engine under `decide`, vectorized for simulation.

    `mean`, `sd`, `n`, `n_before` (the seeds at the comparison's previous look, 0 at the first)
    and `codes` (verdicts so far, indices into `VERDICTS`) have shape (..., K): the last axis is
    the whole family, settled comparisons included; leading axes are independent studies (`n`
    and `n_before` may be scalars). Returns the new codes
    and a dict of arrays: p_superiority (two-sided, nominal), p_equivalence (TOST), the Holm
    levels (alpha_superiority, alpha_equivalence) and the t each verdict needs
    (boundary_superiority, boundary_equivalence).
    """
    mean, sd = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    n, n_before = (np.broadcast_to(np.asarray(v, dtype=int), mean.shape) for v in (n, n_before))
    codes = np.asarray(codes, dtype=int)
    against_zero, above_lower, below_upper = t_statistics(mean, sd, n, design.margin)
    keys, n_index = np.unique(n_before.astype(np.int64) << 32 | n, return_inverse=True)
    seeds = np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=-1)  # (before, now) pairs
    n_index, family = n_index.reshape(n.shape), codes.shape[-1]
    eq_table = _critical_table(seeds, family, design.alpha, design)
    sup_table = _critical_table(seeds, family, design.alpha / 2, design)
    open_ = (codes == 0) & (n >= 2)
    # Equivalence first: where both nulls fall, the verdict is "equivalent" (module docstring).
    equivalent, eq_critical, eq_standing = _holm(
        lambda c: (above_lower >= c) & (below_upper <= -c), open_, codes == 3, n_index, eq_table
    )
    better, sup_critical, sup_standing = _holm(
        lambda c: np.abs(against_zero) >= c,
        open_ & ~equivalent,
        np.isin(codes, (1, 2)),
        n_index,
        sup_table,
    )
    new = np.where(equivalent, 3, np.where(better, np.where(against_zero > 0, 1, 2), codes))
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(n >= 2, n - 1, np.nan)
        columns = {
            "p_superiority": 2 * stats.t.sf(np.abs(against_zero), df),
            "p_equivalence": np.maximum(stats.t.sf(above_lower, df), stats.t.cdf(below_upper, df)),
            "alpha_superiority": np.broadcast_to(design.alpha / sup_standing, n.shape),
            "alpha_equivalence": np.broadcast_to(design.alpha / eq_standing, n.shape),
            "boundary_superiority": sup_critical,
            "boundary_equivalence": eq_critical,
        }
    return new, columns


COLUMNS = [
    "comparison", "look", "n_seeds", "mean_diff", "sd", "verdict", "decided_at_look",
    "p_superiority", "p_equivalence", "alpha_superiority", "alpha_equivalence",
    "boundary_superiority", "boundary_equivalence", "needs_seeds", "first_seeds",
]  # fmt: skip


def decide(
    differences: pd.DataFrame, design: Design, previous: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One look: a verdict for every comparison not yet settled.

    Args:
        differences: Long frame: `comparison` (str), `seed` (int), `diff` (A - B), every seed
            observed so far for every comparison still of interest.
        design: The design.
        previous: What this function returned at the previous look; None at the first.
            Settled comparisons keep their row: never recomputed, even given more seeds.

    Returns:
        One row per comparison (`COLUMNS`): this look's index, n_seeds, mean_diff, sd, verdict
        (in `VERDICTS`), decided_at_look (NaN while undecided), nominal p-values, the Holm
        levels and t boundaries used, needs_seeds (undecided with budget left), first_seeds
        (the first look's seeds, which fix the default schedule).

    Raises:
        ValueError: If a column is missing, a (comparison, seed) pair repeats, or a comparison
            undecided in `previous` has no differences.
    """
    missing = sorted({"comparison", "seed", "diff"} - set(differences.columns))
    if missing:
        raise ValueError(f"The 'differences' frame lacks the columns {missing}.")
    if differences.duplicated(["comparison", "seed"]).any():
        raise ValueError("The 'differences' frame must hold each (comparison, seed) once.")
    by_comparison = differences.dropna(subset=["diff"]).groupby("comparison", sort=True)["diff"]
    summary = by_comparison.agg(n_seeds="size", mean_diff="mean", sd="std")
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
    n = rows["n_seeds"].fillna(0).to_numpy(int)
    codes = np.array([VERDICTS.index(verdict_of.get(c, "undecided")) for c in family])
    n_before = np.array([seeds_before.get(c, 0) for c in family])
    new, columns = judge(rows["mean_diff"], rows["sd"], n, n_before, codes, design)
    frame = rows.assign(
        n_seeds=n,
        look=look,
        verdict=[VERDICTS[c] for c in new],
        decided_at_look=np.where(new != 0, look, np.nan),
        needs_seeds=(new == 0) & (n < design.max_seeds),
        first_seeds=first,
        **columns,
    ).reset_index()
    frame = frame[~frame["comparison"].isin(verdict_of)]
    frame = pd.concat([frame, settled.assign(look=look)]) if len(settled) else frame
    return frame.sort_values("comparison")[COLUMNS].reset_index(drop=True)


def decision_frame(records: list[dict]) -> pd.DataFrame:
    """A look's stored decisions (JSON records) as `decide` returned them, also when there were
    none (a run with nothing to compare)."""
    return pd.DataFrame(records) if records else pd.DataFrame(columns=COLUMNS)


def seeds_to_add(decisions: pd.DataFrame, design: Design) -> int:
    """The seeds the next look should reach: the next value of the schedule, or 0 when done."""
    waiting = decisions[decisions["needs_seeds"].astype(bool)]
    if waiting.empty:
        return 0
    reached = int(waiting["n_seeds"].max())
    schedule = design.schedule(int(decisions["first_seeds"].iloc[0]))
    return next((n for n in schedule if n > reached), design.max_seeds)
