"""Settling by simulation: does `--settle` keep its error rates where the scores are not normal,
and what does it cost?

    python -m benchmarks.sequential [--studies 6000] [--seed 0] [--spending hwang_shih_decani_-2]

No training: each simulated study draws per-seed scores (or per-seed paired differences) and runs
`reports.sequential.judge` look by look over the default schedule (3, 5, 8, 12, 19, 30 seeds;
as `--settle`, without the looks where nothing could be decided), adding seeds only to the
comparisons still undecided. The family is the default study's: the 3
pairs of 3 placements at each of 5 learning rates, and the 3 pairs at their best learning rates
(18 comparisons). Where a scenario draws scores per placement, the three comparisons of a
learning rate share their sides (A - B, A - C and B - C from the same seeds' scores), a seed's
score is chance (0.10) where it diverges, and a seed counts for equivalence only where at least
one side trained (reached `STABLE_MIN_ACCURACY`), as in `reports.settling.differences`.

Scenarios (names are single tokens), each a global null (every "better" is wrong), at the margin
(every "equivalent" is wrong) or realistic:
- null: `global_null` (independent normal differences, SDs 0.005-0.01, as before),
  `shared_normal` (normal scores per placement), `mix_q0.15`, `mix_q0.3`, `mix_q0.5` (each seed
  diverges with probability q at learning rates 1 and 3, every placement alike), `mix_q0.3_q0.5`
  (the issue's: 0.3 at lr 1, 0.5 at lr 3), `t3` (noise t with 3 degrees of freedom), `skew`
  (normal noise, but one seed in ten `SKEW_DROP` points low), `three_q0.5` (one learning rate
  alone: its 3 pairs, q 0.5), `one_null` (one comparison, `SINGLE` times the studies);
- at the margin: `margin_normal` (independent differences of +-margin), `margin_mix_q0.15`,
  `margin_mix_q0.3`, `margin_mix_q0.5` (placements 0, 1 and 2 margins apart in mean score,
  divergence included, the trained scores shifted to make it so), `margin_t3`, `margin_skew`,
  `one_margin` (one comparison at the SD where the TOST errs most);
- realistic: each (placement, learning rate) cell of the default study (docs/default-study/
  trials.csv): its share of failed seeds (below `STABLE_MIN_ACCURACY`), their scores (chance,
  exactly where they diverged), and its trained mean, with SDs that give the study's own
  differences' SDs (per cell, floored at `SD_FLOOR` / sqrt 2); best lr as one more group of cells.
A wrong "better" is one where the true mean difference is 0 or has the other sign; a wrong
"equivalent" one where it is at least a margin. Every scenario runs both the sign-flip design
(`reports.sequential`) and the paired t-test design it replaced (`t_judge`: t p-values through
the same spending and Holm steps, every look from 2 seeds on, as before). The fixed-seed design
of the same power is found by simulation: the same verdict rule at a single look, the fewest
seeds with the sequential design's power. The last line is
`fwer=` (global_null) ... `worst_fwer=` (the highest wrong-"better" rate over every null
scenario) `worst_scenario=`, and `wrong_equivalence=` is the highest wrong-"equivalent" rate
over every at-the-margin scenario.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from reports.selection import STABLE_MIN_ACCURACY, best_lr_choices
from reports.sequential import (
    DEFAULT_SPENDING,
    SPENDING,
    VERDICTS,
    Design,
    first_decisive,
    judge,
    judge_p_values,
)
from reports.settling import candidate_lrs, differences
from reports.stats import CHANCE, scored

TRIALS = Path(__file__).resolve().parents[1] / "docs" / "default-study" / "trials.csv"
FIRST_SEEDS = 3  # the default study's grid
PLACEMENTS = ("after_activation", "before_activation", "none")  # the study's order
PAIRS = ((0, 1), (0, 2), (1, 2))  # A - B of `reports.stats.placement_pairs`
GROUPS = 6  # 5 learning rates and best lr
HIGH_LRS = (3, 4)  # lr 1 and lr 3: where the default study diverges
NULL_SDS = (0.005, 0.01)  # SDs of the differences, spread evenly over the family
TRAINED = 0.85  # a trained model's mean score in the made-up scenarios
SKEW_DROP = (0.03, 0.05)  # `skew`: how far below the others the odd seed falls
SKEW_SHARE = 0.1
SD_FLOOR = 0.002  # SD of a difference of two trained cells, at least
CLEAR = 2.0  # clearly better: |delta| >= CLEAR * margin; clearly equivalent: <= margin / CLEAR
SINGLE = 10  # single-comparison scenarios run this many times the studies (they are cheap)
SINGLE_MARGIN_SD = 0.006  # where one comparison's wrong-equivalence rate peaks (near alpha)
CHUNK = 2000  # studies drawn at once (memory)
A_BETTER, B_BETTER, EQUIVALENT = (VERDICTS.index(v) for v in ("a_better", "b_better", "equivalent"))


@dataclass
class Scenario:
    """How to draw a study's differences, and the truth they come from.

    `draw(rng, studies, seeds)` gives (diffs, informative), each (studies, K, seeds); `means`
    are the true mean differences (K,); `expected` the verdict each comparison should get (-1
    where none is clear), only where power is measured.
    """

    kind: str  # "null", "margin" or "realistic"
    draw: object
    means: np.ndarray
    times: int = 1
    expected: np.ndarray | None = None


def _normal_differences(means, sds) -> object:
    def draw(rng, studies, seeds):
        d = rng.normal(means[:, None], sds[:, None], size=(studies, len(means), seeds))
        return d, d != 0

    return draw


def _noise(shape: str, rng, size) -> np.ndarray:
    """Unit-variance noise (normal, t3) or, for skew, normal noise with odd seeds points low."""
    if shape == "t3":
        return rng.standard_t(3, size=size) / np.sqrt(3.0)
    return rng.standard_normal(size)


@dataclass
class Cells:
    """Per-placement scores of a family: arrays of shape (groups, placements).

    Trained seeds score `mean + sd * noise`; a seed fails with probability `q`, scoring
    `failed` (+ `failed_sd` noise; chance exactly where the model diverged).
    """

    mean: np.ndarray
    sd: np.ndarray
    q: np.ndarray
    failed: np.ndarray
    failed_sd: np.ndarray
    noise: str = "normal"

    def means(self) -> np.ndarray:
        """True mean differences, K = groups x pairs."""
        score = self.q * self.failed + (1 - self.q) * self.mean
        return np.array([score[g, a] - score[g, b] for g in range(len(score)) for a, b in PAIRS])

    def draw(self, rng, studies, seeds):
        size = (studies, *self.mean.shape, seeds)
        trained = self.mean[..., None] + self.sd[..., None] * _noise(self.noise, rng, size)
        if self.noise == "skew":
            odd = rng.random(size) < SKEW_SHARE
            drop = rng.uniform(*SKEW_DROP, size=size)
            trained += SKEW_SHARE * np.mean(SKEW_DROP) - np.where(odd, drop, 0.0)
        failed = self.failed[..., None] + self.failed_sd[..., None] * rng.standard_normal(size)
        score = np.where(rng.random(size) < self.q[..., None], failed, trained)
        a, b = (np.array(side) for side in zip(*PAIRS, strict=True))
        d = score[:, :, a] - score[:, :, b]
        counts = np.maximum(score[:, :, a], score[:, :, b]) >= STABLE_MIN_ACCURACY
        flat = (studies, -1, seeds)
        return d.reshape(flat), counts.reshape(flat)


def _made_up(q=0.0, noise="normal", offsets=None, groups=GROUPS) -> Cells:
    """Made-up cells: trained at `TRAINED`, SDs rising over the groups so that the differences'
    SDs span `NULL_SDS`; `q` at the high learning rates; `offsets` (placements, in expected
    score) shift the trained means so that the expected scores differ by exactly that."""
    shape = (groups, len(PLACEMENTS))
    sd = np.repeat(np.linspace(*NULL_SDS, groups)[:, None] / np.sqrt(2), 3, axis=1)
    divergence = np.zeros(shape)
    divergence[[g for g in HIGH_LRS if g < groups]] = q
    if groups == 1:
        divergence[:] = q
    mean = np.full(shape, TRAINED)
    if offsets is not None:  # alternate the sign by group: both directions at the margin
        signs = np.where(np.arange(groups) % 2, -1.0, 1.0)[:, None]
        mean = mean + signs * np.asarray(offsets)[None, :] / (1 - divergence)
    return Cells(mean, sd, divergence, np.full(shape, CHANCE), np.zeros(shape), noise)


def realistic_cells(path: Path = TRIALS) -> Cells:
    """The default study's cells: failed share, failed and trained scores, and SDs that give its
    differences' own SDs where the cells trained (see the module docstring)."""
    trials = scored(pd.read_csv(path, keep_default_na=False))
    best = best_lr_choices(trials).assign(lr=np.inf, val_score=lambda f: f["test_score"])
    frames = [g for _, g in trials.groupby("lr", sort=True)] + [best]
    shape = (len(frames), len(PLACEMENTS))
    cells = Cells(*(np.zeros(shape) for _ in range(5)))
    for g, frame in enumerate(frames):
        by_seed = frame.pivot_table(index="seed", columns="placement", values="val_score")
        by_seed = by_seed[list(PLACEMENTS)]
        trained = by_seed >= STABLE_MIN_ACCURACY
        for p, name in enumerate(PLACEMENTS):
            ok, fail = by_seed[name][trained[name]], by_seed[name][~trained[name]]
            cells.q[g, p] = len(fail) / len(by_seed)
            cells.failed[g, p] = fail.mean() if len(fail) else CHANCE
            cells.mean[g, p] = ok.mean() if len(ok) else cells.failed[g, p]  # never drawn
            cells.failed_sd[g, p] = fail.std(ddof=1) if len(fail) > 1 else 0.0
            cells.sd[g, p] = ok.std(ddof=1) if len(ok) > 1 else 0.0
        cells.sd[g] = _pair_sds(by_seed.where(trained), cells.sd[g])
    return cells


def _pair_sds(scores: pd.DataFrame, own: np.ndarray) -> np.ndarray:
    """Per-placement SDs whose independent differences have the pairs' SDs (of the seeds where
    both trained), as far as they can; a cell's own SD where it has no trained partner."""
    floor = SD_FLOOR / np.sqrt(2)
    pair = {(a, b): (scores.iloc[:, a] - scores.iloc[:, b]).std(ddof=1) ** 2 for a, b in PAIRS}
    known = {k: v for k, v in pair.items() if np.isfinite(v)}
    var = np.maximum(own, floor) ** 2
    if len(known) == 3:
        (ab, ac, bc) = (known[p] for p in PAIRS)
        var = np.array([(ab + ac - bc) / 2, (ab + bc - ac) / 2, (ac + bc - ab) / 2])
    elif len(known) == 1:
        (((a, b), v),) = known.items()
        var[[a, b]] = v * var[[a, b]] / var[[a, b]].sum()
    return np.sqrt(np.maximum(var, floor**2))


def study_effects(path: Path = TRIALS) -> pd.DataFrame:
    """The default study's comparisons: names, and the cells each one needs (its placements at
    its learning rate, or at their candidate learning rates for best lr)."""
    trials = pd.read_csv(path, keep_default_na=False)
    candidates = candidate_lrs(scored(trials))  # the default study is one context
    comparisons, _ = differences(trials)
    rows = []
    for _, c in comparisons.iterrows():
        at = f"lr {c['lr']:g}" if c["kind"] == "lr" else "best lr"
        cells = {
            (p, lr)
            for p in (c["placement_a"], c["placement_b"])
            for lr in ([c["lr"]] if c["kind"] == "lr" else candidates[p])
        }
        rows.append(
            {"comparison": f"{c['placement_a']} - {c['placement_b']} @ {at}", "cells": cells}
        )
    return pd.DataFrame(rows)


def expected_codes(means, margin: float, informative=None) -> np.ndarray:
    """The verdict each comparison should get; -1 where |delta| is too close to the margin,
    and where no seed can count for equivalence though that is the verdict due."""
    means = np.asarray(means)
    better = np.where(means > 0, A_BETTER, B_BETTER)
    clear_better = np.abs(means) >= CLEAR * margin
    equivalent = np.abs(means) <= margin / CLEAR
    if informative is not None:
        equivalent &= informative
    return np.where(clear_better, better, np.where(equivalent, EQUIVALENT, -1))


def scenarios(margin: float) -> dict[str, Scenario]:
    """Every scenario by name (module docstring)."""
    family = 3 * GROUPS
    null_sds = np.linspace(*NULL_SDS, family)
    signs = np.where(np.arange(family) % 2, 1.0, -1.0)
    out = {
        "global_null": Scenario(
            "null", _normal_differences(np.zeros(family), null_sds), np.zeros(family)
        )
    }
    made = {
        "shared_normal": _made_up(),
        **{f"mix_q{q:g}": _made_up(q) for q in (0.15, 0.3, 0.5)},
        "t3": _made_up(noise="t3"),
        "skew": _made_up(noise="skew"),
        "three_q0.5": _made_up(0.5, groups=1),
    }
    issue = _made_up()
    issue.q[HIGH_LRS[0]], issue.q[HIGH_LRS[1]] = 0.3, 0.5
    made["mix_q0.3_q0.5"] = issue
    for name, cells in made.items():
        out[name] = Scenario("null", cells.draw, cells.means())
    one = np.full(1, np.mean(NULL_SDS))
    out["one_null"] = Scenario("null", _normal_differences(np.zeros(1), one), np.zeros(1), SINGLE)
    at_margin = signs * margin
    out["margin_normal"] = Scenario("margin", _normal_differences(at_margin, null_sds), at_margin)
    offsets = np.arange(3) * margin
    margins = {
        **{f"margin_mix_q{q:g}": _made_up(q, offsets=offsets) for q in (0.15, 0.3, 0.5)},
        "margin_t3": _made_up(noise="t3", offsets=offsets),
        "margin_skew": _made_up(noise="skew", offsets=offsets),
    }
    for name, cells in margins.items():
        out[name] = Scenario("margin", cells.draw, cells.means())
    single = np.full(1, margin)
    out["one_margin"] = Scenario(
        "margin", _normal_differences(single, np.full(1, SINGLE_MARGIN_SD)), single, SINGLE
    )
    cells = realistic_cells()
    means = cells.means()
    can_count = np.array(
        [(1 - cells.q[g, [a, b]].prod()) > 0 for g in range(GROUPS) for a, b in PAIRS]
    )
    out["realistic"] = Scenario(
        "realistic", cells.draw, means, expected=expected_codes(means, margin, can_count)
    )
    return out


def t_judge(diffs, n_before, codes, design: Design, informative=None):
    """The paired t-test design `reports.sequential` used before the sign-flip tests: t and
    TOST p-values from every seed, the same Holm steps, every look from 2 seeds on, and its
    spending (Hwang-Shih-DeCani, gamma -4)."""
    design = dataclasses.replace(design, spending="hwang_shih_decani")
    n = (~np.isnan(diffs)).sum(axis=-1)
    mean, sd = np.nanmean(diffs, axis=-1), np.nanstd(diffs, axis=-1, ddof=1)
    se = sd / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t0 = np.where((se == 0) & (mean == 0), 0.0, mean / se)
        lower, upper = (mean + design.margin) / se, (mean - design.margin) / se
        df = np.where(n >= 2, n - 1, np.nan)
        p_sup = 2 * stats.t.sf(np.abs(t0), df)
        p_eq = np.maximum(stats.t.sf(lower, df), stats.t.cdf(upper, df))
    every_look = ((2, 2), (2, 2))  # (first decisive seeds, floor) per family: from 2 seeds on
    return judge_p_values(p_sup, np.sign(mean), p_eq, n, n_before, codes, design, every_look)


def _sign_flip(diffs, n_before, codes, design, informative):
    return judge(diffs, n_before, codes, design, informative, exact=False)


TESTS = {"sign-flip": _sign_flip, "t (old)": t_judge}


def simulate(scenario: Scenario, design: Design, studies: int, rng, test) -> tuple:
    """Run the design on simulated studies: verdict codes and seeds used, shape (studies, K)."""
    schedule = design.schedule(FIRST_SEEDS)
    if test is not t_judge:  # as `seeds_to_add`: no look where nothing can be decided
        family = len(scenario.means)
        can = min(first_decisive(design, sided, family) for sided in (2, 1))
        schedule = (schedule[0], *(n for n in schedule[1:] if n >= can))
    codes, used = [], []
    for start in range(0, studies, CHUNK):
        size = min(CHUNK, studies - start)
        diffs, informative = scenario.draw(rng, size, design.max_seeds)
        chunk_codes = np.zeros(diffs.shape[:2], dtype=int)
        chunk_used = np.zeros_like(chunk_codes)
        for before, n in zip((0, *schedule), schedule, strict=False):
            undecided = chunk_codes == 0
            chunk_codes, _ = test(diffs[..., :n], before, chunk_codes, design, informative[..., :n])
            chunk_used = np.where(undecided, n, chunk_used)
        codes.append(chunk_codes)
        used.append(chunk_used)
    return np.concatenate(codes), np.concatenate(used)


def wrong_verdicts(codes, means, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Per study: any wrong 'better' verdict, any wrong 'equivalent' verdict."""
    means = np.asarray(means)
    wrong_better = ((codes == A_BETTER) & (means <= 0)) | ((codes == B_BETTER) & (means >= 0))
    wrong_equivalent = (codes == EQUIVALENT) & (np.abs(means) >= margin * (1 - 1e-9))
    return wrong_better.any(axis=1), wrong_equivalent.any(axis=1)


def seeds_per_cell(used: np.ndarray, cells: list[set]) -> float:
    """Mean seeds a (placement, lr) cell is trained for: the most any of its comparisons used."""
    every_cell = sorted(set().union(*cells))
    per_cell = [
        used[:, [i for i, c in enumerate(cells) if cell in c]].max(axis=1) for cell in every_cell
    ]
    return float(np.mean(per_cell))


def power(codes, expected) -> float:
    """Share of the clear comparisons (expected >= 0), over all studies, decided as expected."""
    clear = expected >= 0
    return float((codes[:, clear] == expected[clear]).mean())


def fixed_seeds(scenario, design: Design, target: float, studies: int, rng, test) -> tuple:
    """The fewest seeds at which one look reaches `target` power (bisection on the same draws)."""
    largest = 2 * design.max_seeds
    draws = [scenario.draw(rng, min(CHUNK, studies - s), largest) for s in range(0, studies, CHUNK)]
    found = {}

    def power_at(n: int) -> float:
        if n not in found:
            one_look = Design(design.alpha, design.margin, n, (n,), design.spending)
            codes = [
                test(d[..., :n], 0, np.zeros(d.shape[:2], dtype=int), one_look, w[..., :n])[0]
                for d, w in draws
            ]
            found[n] = power(np.concatenate(codes), scenario.expected)
        return found[n]

    low, high = 2, largest  # power_at(high) may fall short: then `largest`
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if power_at(middle) >= target else (middle + 1, high)
    return low, power_at(low)


def _rate(share: float, studies: int) -> str:
    return f"{share:.4f} +- {np.sqrt(share * (1 - share) / studies):.4f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=6000, help="simulated studies per run")
    parser.add_argument("--seed", type=int, default=0, help="numpy default_rng seed")
    parser.add_argument("--spending", default=DEFAULT_SPENDING, choices=sorted(SPENDING))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    design = Design(spending=args.spending)
    cases = scenarios(design.margin)
    print(
        f"{args.studies} simulated studies per scenario ({SINGLE}x for one comparison), "
        f"numpy default_rng([{args.seed}, scenario]); alpha {design.alpha} per family, margin "
        f"{design.margin}, looks {design.schedule(FIRST_SEEDS)}, spending {design.spending}"
    )
    print(
        f"{'scenario':16} {'kind':9} {'K':>2} {'test':9} {'any wrong better':>17} "
        f"{'any wrong equiv.':>17} {'power':>6} {'seeds/comp':>10}"
    )
    results = {}
    for index, (name, case) in enumerate(cases.items()):
        studies = args.studies * case.times
        for test_name, test in TESTS.items():
            rng = np.random.default_rng([args.seed, index])  # the same draws for each test
            codes, used = simulate(case, design, studies, rng, test)
            better, equivalent = (
                w.mean() for w in wrong_verdicts(codes, case.means, design.margin)
            )
            found = power(codes, case.expected) if case.expected is not None else np.nan
            results[name, test_name] = (better, equivalent, found, codes, used)
            print(
                f"{name:16} {case.kind:9} {len(case.means):2} {test_name:9} "
                f"{_rate(better, studies):>17} {_rate(equivalent, studies):>17} {found:6.3f} "
                f"{used.mean():10.1f}".replace("nan", "  -"),
                flush=True,
            )
    realistic = cases["realistic"]
    effects = study_effects()
    cells = list(effects["cells"])
    print("\nrealistic, per comparison (expected '-': within 2x of the margin, or no seed counts)")
    print(f"{'':48} {'':8} {'':10} {'correct':^15} {'seeds':^11}")
    print(
        f"{'comparison':48} {'mean':>8} {'expected':>10} {'flip':>7} {'t':>7} {'flip':>5} {'t':>5}"
    )
    flip, old = results["realistic", "sign-flip"], results["realistic", "t (old)"]
    for i, row in effects.iterrows():
        want = realistic.expected[i]
        right = [(r[3][:, i] == want).mean() if want >= 0 else np.nan for r in (flip, old)]
        print(
            f"{row['comparison']:48} {realistic.means[i]:+8.4f} "
            f"{VERDICTS[want] if want >= 0 else '-':>10} {right[0]:7.3f} {right[1]:7.3f} "
            f"{flip[4][:, i].mean():5.1f} {old[4][:, i].mean():5.1f}".replace("nan", "  -")
        )
    print("\nfixed-seed design of the same power (one look, the same test; n by bisection):")
    fixed = {}
    for offset, (test_name, test) in enumerate(TESTS.items()):
        rng = np.random.default_rng([args.seed, len(cases) + offset])
        _, _, found, _, used = results["realistic", test_name]
        n, fixed_power = fixed_seeds(realistic, design, found, args.studies, rng, test)
        fixed[test_name] = n
        print(
            f"  {test_name:9}: sequential power {found:.3f} with {used.mean():.1f} seeds per "
            f"comparison, {seeds_per_cell(used, cells):.1f} per cell; fixed {n} seeds (power "
            f"{fixed_power:.3f})"
        )
    print(f"({time.perf_counter() - started:.0f} s)")
    nulls = {n: results[n, "sign-flip"][0] for n, c in cases.items() if c.kind == "null"}
    margins = {n: results[n, "sign-flip"][1] for n, c in cases.items() if c.kind == "margin"}
    worst = max(nulls, key=nulls.get)
    print(
        f"fwer={nulls['global_null']:.4f} alpha={design.alpha} "
        f"wrong_equivalence={max(margins.values()):.4f} "
        f"mean_seeds={flip[4].mean():.1f} fixed_seeds={fixed['sign-flip']} "
        f"worst_fwer={nulls[worst]:.4f} worst_scenario={worst}"
    )


if __name__ == "__main__":
    main()
