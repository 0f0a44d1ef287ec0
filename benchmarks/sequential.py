"""Settling by simulation: does `--settle` keep its error rates, and what does it save?

    python -m benchmarks.sequential [--studies 20000] [--seed 0]

No training: each simulated study draws every comparison's per-seed paired differences from a
known normal distribution and runs `reports.sequential.judge` look by look, adding seeds only to
the comparisons still undecided. The family is the default study's: 3 placement pairs at each
of 5 learning rates, plus the 3 pairs at each placement's best learning rate (18 comparisons).
Scenarios, each under the default spending and O'Brien-Fleming's (the same draws for both):
1. global null: every true difference 0, SDs 0.005-0.01;
2. at the margin: every true difference +-margin (alternating), the same SDs;
3. realistic: means and SDs of the default study's own per-seed differences
   (docs/default-study/trials.csv; diverged trials score chance, SDs floored at `SD_FLOOR`);
4. and 5. one comparison alone, under the null and at the margin (at the SD where the TOST
   errs most), with `SINGLE` times the studies.
A wrong "better" is one where the true difference is 0 or has the other sign; a wrong
"equivalent" one where it is at least a margin. The fixed-seed design of the same power is
found by simulation: the same verdict rule at a single look (Holm t-test, Holm TOST) for each n.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reports.sequential import VERDICTS, Design, judge
from reports.settling import candidate_lrs, differences
from reports.stats import scored

TRIALS = Path(__file__).resolve().parents[1] / "docs" / "default-study" / "trials.csv"
FIRST_SEEDS = 3  # the default study's grid
NULL_SDS = (0.005, 0.01)  # spread evenly over the family
SD_FLOOR = 0.002  # about half the study's typical seed-to-seed SD; 0 only where both diverged
CLEAR = 2.0  # clearly better: |delta| >= CLEAR * margin; clearly equivalent: <= margin / CLEAR
SINGLE = 10  # single-comparison scenarios run this many times the studies (they are cheap)
SINGLE_MARGIN_SD = 0.006  # where one comparison's wrong-equivalence rate peaks (near alpha)
CHUNK = 5000  # studies drawn at once (memory)
SHAPES = ("hwang_shih_decani", "obrien_fleming")
A_BETTER, B_BETTER, EQUIVALENT = (VERDICTS.index(v) for v in ("a_better", "b_better", "equivalent"))


def simulate(means, sds, design: Design, studies: int, rng: np.random.Generator):
    """Run the design on simulated studies: verdict codes and seeds used, shape (studies, K)."""
    schedule = design.schedule(FIRST_SEEDS)
    codes, used = [], []
    for start in range(0, studies, CHUNK):
        size = min(CHUNK, studies - start)
        draws = rng.normal(means, sds, size=(size, design.max_seeds, len(means)))
        chunk_codes = np.zeros((size, len(means)), dtype=int)
        chunk_used = np.zeros_like(chunk_codes)
        for before, n in zip((0, *schedule), schedule, strict=False):
            seen = draws[:, :n]
            undecided = chunk_codes == 0
            chunk_codes, _ = judge(
                seen.mean(axis=1), seen.std(axis=1, ddof=1), n, before, chunk_codes, design
            )
            chunk_used = np.where(undecided, n, chunk_used)
        codes.append(chunk_codes)
        used.append(chunk_used)
    return np.concatenate(codes), np.concatenate(used)


def wrong_verdicts(codes, means, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Per study: any wrong 'better' verdict, any wrong 'equivalent' verdict."""
    means = np.asarray(means)
    wrong_better = ((codes == A_BETTER) & (means <= 0)) | ((codes == B_BETTER) & (means >= 0))
    wrong_equivalent = (codes == EQUIVALENT) & (np.abs(means) >= margin)
    return wrong_better.any(axis=1), wrong_equivalent.any(axis=1)


def expected_codes(means, margin: float) -> np.ndarray:
    """The verdict each comparison should get; -1 where |delta| is too close to the margin."""
    means = np.asarray(means)
    better = np.where(means > 0, A_BETTER, B_BETTER)
    clear_better = np.abs(means) >= CLEAR * margin
    return np.where(clear_better, better, np.where(np.abs(means) <= margin / CLEAR, EQUIVALENT, -1))


def study_effects(path: Path = TRIALS) -> pd.DataFrame:
    """The default study's comparisons: mean and SD of the per-seed differences, and their cells.

    The comparisons `--settle` decides (`reports.settling.differences`): a pair at one learning
    rate on final val_accuracy, and a pair each at its own best learning rate (chosen per seed
    on validation) on test accuracy, which needs both placements' candidate learning rates.
    """
    # keep_default_na=False: '' (no preset, no conv sizes) stays a value, as in the frames
    trials = pd.read_csv(path, keep_default_na=False)
    candidates = candidate_lrs(scored(trials))  # the default study is one context
    comparisons, diffs = differences(trials)
    rows = []
    for _, c in comparisons.iterrows():
        diff = diffs.loc[diffs["comparison"] == c["comparison"], "diff"]
        at = f"lr {c['lr']:g}" if c["kind"] == "lr" else "best lr"
        cells = {
            (p, lr)
            for p in (c["placement_a"], c["placement_b"])
            for lr in ([c["lr"]] if c["kind"] == "lr" else candidates[p])
        }
        rows.append(
            {
                "comparison": f"{c['placement_a']} - {c['placement_b']} @ {at}",
                "mean": diff.mean(),
                "sd": diff.std(ddof=1),
                "cells": cells,
            }
        )
    return pd.DataFrame(rows)


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


def fixed_seeds(means, sds, design: Design, target: float, studies: int, rng) -> tuple[int, float]:
    """The fewest seeds at which one look (Holm t-test and Holm TOST) reaches `target` power."""
    expected = expected_codes(means, design.margin)
    largest = 2 * design.max_seeds
    correct = np.zeros(largest + 1)
    for start in range(0, studies, CHUNK):
        size = min(CHUNK, studies - start)
        draws = rng.normal(means, sds, size=(size, largest, len(means)))
        for n in range(2, largest + 1):
            one_look = Design(design.alpha, design.margin, n, (n,), design.spending)
            seen = draws[:, :n]
            undecided = np.zeros((size, len(means)), dtype=int)
            codes, _ = judge(seen.mean(axis=1), seen.std(axis=1, ddof=1), n, 0, undecided, one_look)
            correct[n] += power(codes, expected) * size
    curve = correct / studies
    reached = [n for n in range(2, largest + 1) if curve[n] >= target]
    n = reached[0] if reached else largest
    return n, float(curve[n])


def _rate(share: float, studies: int) -> str:
    return f"{share:.4f} +- {np.sqrt(share * (1 - share) / studies):.4f}"


def scenarios(effects: pd.DataFrame, margin: float) -> dict[str, tuple]:
    """Name: (true means, SDs, studies multiplier). Single comparisons show the raw error rate
    of one test, which Holm's slack in a family of 18 would hide."""
    family = len(effects)
    null_sds = np.linspace(*NULL_SDS, family)
    signs = np.where(np.arange(family) % 2, 1.0, -1.0)
    realistic_sds = np.maximum(effects["sd"].to_numpy(), SD_FLOOR)
    return {
        "global null": (np.zeros(family), null_sds, 1),
        "at the margin": (signs * margin, null_sds, 1),
        "realistic": (effects["mean"].to_numpy(), realistic_sds, 1),
        "one, null": (np.zeros(1), np.full(1, np.mean(NULL_SDS)), SINGLE),
        "one, at margin": (np.full(1, margin), np.full(1, SINGLE_MARGIN_SD), SINGLE),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20000, help="simulated studies per run")
    parser.add_argument("--seed", type=int, default=0, help="numpy default_rng seed")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    effects = study_effects()
    default = Design()
    cases = scenarios(effects, default.margin)
    print(
        f"{args.studies} simulated studies per scenario ({SINGLE}x for one comparison), "
        f"numpy default_rng([{args.seed}, scenario]); alpha {default.alpha} per family, margin "
        f"{default.margin}, looks {default.schedule(FIRST_SEEDS)}"
    )
    print(
        f"{'scenario':14} {'K':>2} {'spending':17} {'any wrong better':>17} "
        f"{'any wrong equiv.':>17} {'power':>6} {'seeds/comp':>10} {'seeds/cell':>10}"
    )
    results = {}
    for shape in SHAPES:
        design = Design(spending=shape)
        for index, (name, (means, sds, times)) in enumerate(cases.items()):
            studies = args.studies * times
            rng = np.random.default_rng([args.seed, index])  # the same draws for each shape
            codes, used = simulate(means, sds, design, studies, rng)
            better, equivalent = (w.mean() for w in wrong_verdicts(codes, means, design.margin))
            expected = expected_codes(means, design.margin)
            found = power(codes, expected) if (expected >= 0).any() else np.nan
            per_cell = seeds_per_cell(used, list(effects["cells"])) if len(means) > 1 else np.nan
            results[shape, name] = (better, equivalent, found, codes, used)
            print(
                f"{name:14} {len(means):2} {shape:17} {_rate(better, studies):>17} "
                f"{_rate(equivalent, studies):>17} {found:6.3f} {used.mean():10.1f} "
                f"{per_cell:10.1f}".replace("nan", "  -")
            )
    shape = default.spending
    _, _, found, codes, used = results[shape, "realistic"]
    means, sds, _ = cases["realistic"]
    expected = expected_codes(means, default.margin)
    print(f"\nrealistic, per comparison ({shape}; expected '-': within {CLEAR:g}x of the margin)")
    print(f"{'comparison':48} {'mean':>8} {'sd':>7} {'expected':>10} {'correct':>7} {'seeds':>6}")
    for i, row in effects.iterrows():
        want = VERDICTS[expected[i]] if expected[i] >= 0 else "-"
        correct = (codes[:, i] == expected[i]).mean() if expected[i] >= 0 else np.nan
        print(
            f"{row['comparison']:48} {means[i]:+8.4f} {sds[i]:7.4f} {want:>10} "
            f"{correct:7.3f} {used[:, i].mean():6.1f}".replace("nan", "  -")
        )
    rng = np.random.default_rng([args.seed, len(cases)])
    fixed, fixed_power = fixed_seeds(means, sds, default, found, args.studies, rng)
    per_cell = seeds_per_cell(used, list(effects["cells"]))
    print(
        f"\nfixed-seed design of the same power (one look: Holm t-test and Holm TOST, n found by "
        f"simulation):\n  {fixed} seeds per comparison and per cell, power {fixed_power:.3f}; "
        f"sequential: power {found:.3f} with {used.mean():.1f} seeds per comparison and "
        f"{per_cell:.1f} per cell on average"
    )
    print(f"({time.perf_counter() - started:.0f} s)")
    fwer, wrong_equivalence = results[shape, "global null"][0], results[shape, "at the margin"][1]
    print(
        f"fwer={fwer:.4f} alpha={default.alpha} wrong_equivalence={wrong_equivalence:.4f} "
        f"mean_seeds={used.mean():.1f} fixed_seeds={fixed}"
    )


if __name__ == "__main__":
    main()
