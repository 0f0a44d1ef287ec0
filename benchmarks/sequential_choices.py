"""The choices behind `reports.sequential`, by simulation: the spending shape, the size of the
sign-pattern subgroup, divergence as its own outcome, and scenarios the main benchmark does not
list (benchmarks/RESULTS.md, "Settling").

    python -m benchmarks.sequential_choices [--studies 3000] [--part all]
    python -m benchmarks.sequential_choices --studies 300 --part adastop  # pip install adastop

`--part spending`: the realistic scenario under each spending shape (power, seeds per
comparison); `bits`: the same with subgroups of 2**12 to 2**16 patterns; `two_part`: a sign test
on the seeds where exactly one side failed and a sign-flip test of accuracy where both trained
(Bonferroni: twice the smaller p), against the sign-flip test of the difference; `scenarios`:
single comparisons (no Holm slack) and families under divergence probabilities 0.05-0.95, at
the margin up to 0.9, a 2-seed first look, budgets of 12 and 60 seeds, and noise t(2), Cauchy
and (skewed) lognormal; `adastop`: AdaStop's comparator (Mathieu et al. 2023) on one learning
rate's 3 placements, where it is installed (slow: about 1 s a study; not in `all`).
"""

from __future__ import annotations

import argparse
import functools
import logging
import time

import numpy as np
from scipy import stats

import benchmarks.sequential as bench
import reports.sequential as seq
from reports import sign_flip
from reports.selection import STABLE_MIN_ACCURACY

MARGIN = seq.MARGIN


def _hsd(t, level, gamma: float):
    return level * t if gamma == 0 else level * np.expm1(-gamma * t) / np.expm1(-gamma)


SHAPES = {f"hsd_{g:g}": functools.partial(_hsd, gamma=g) for g in (-4, -3, -2, -1, 0)}


def spending_shapes(studies: int) -> None:
    seq.SPENDING.update(SHAPES)
    realistic = bench.scenarios(MARGIN)["realistic"]
    cells = list(bench.study_effects()["cells"])
    for shape in [*SHAPES, "obrien_fleming"]:
        design = seq.Design(spending=shape)
        rng = np.random.default_rng([0, 99])
        codes, used = bench.simulate(realistic, design, studies, rng, bench.TESTS["sign-flip"])
        first = [seq.first_decisive(design, sided, len(realistic.means)) for sided in (2, 1)]
        print(
            f"{shape:15} first decisive {first[0]:2} (better) {first[1]:2} (equivalent): power "
            f"{bench.power(codes, realistic.expected):.3f}, {used.mean():.1f} seeds per "
            f"comparison, {bench.seeds_per_cell(used, cells):.1f} per cell, equivalence at lr "
            f"0.01 found {(codes[:, 3] == bench.EQUIVALENT).mean():.3f}",
            flush=True,
        )


def subgroup_bits(studies: int) -> None:
    realistic = bench.scenarios(MARGIN)["realistic"]
    for bits in (12, 13, 14, 16):
        sign_flip.GROUP_BITS = bits
        sign_flip.sign_patterns.cache_clear()
        started = time.perf_counter()
        codes, used = bench.simulate(
            realistic,
            seq.Design(),
            studies,
            np.random.default_rng([0, 99]),
            bench.TESTS["sign-flip"],
        )
        print(
            f"2**{bits} patterns: power {bench.power(codes, realistic.expected):.3f}, "
            f"{used.mean():.2f} seeds per comparison ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    sign_flip.GROUP_BITS = 13
    sign_flip.sign_patterns.cache_clear()


class _Sides(bench.Cells):
    """Cells whose draw also says which side trained: bit 1 side A, bit 2 side B."""

    def draw(self, rng, studies, seeds):
        size = (studies, *self.mean.shape, seeds)
        trained = self.mean[..., None] + self.sd[..., None] * rng.standard_normal(size)
        failed = self.failed[..., None] + self.failed_sd[..., None] * rng.standard_normal(size)
        score = np.where(rng.random(size) < self.q[..., None], failed, trained)
        a, b = (np.array(side) for side in zip(*bench.PAIRS, strict=True))
        up = score >= STABLE_MIN_ACCURACY
        flags = up[:, :, a].astype(int) + 2 * up[:, :, b].astype(int)
        shape = (studies, -1, seeds)
        return (score[:, :, a] - score[:, :, b]).reshape(shape), flags.reshape(shape)


def _sign_flip(diffs, n_before, codes, design, flags):
    return seq.judge(diffs, n_before, codes, design, flags > 0, exact=False)


def _two_part(diffs, n_before, codes, design, flags):
    a, b = (flags & 1) > 0, (flags & 2) > 0
    only_a, only_b = (a & ~b).sum(-1), (b & ~a).sum(-1)
    discordant = only_a + only_b
    tail = stats.binom.cdf(np.minimum(only_a, only_b), np.maximum(discordant, 1), 0.5)
    p_divergence = np.where(discordant > 0, np.minimum(1.0, 2 * tail), 1.0)
    p_accuracy, _, accuracy_sign = sign_flip.sign_flip_p_values(np.where(a & b, diffs, np.nan))
    _, p_eq, _ = sign_flip.sign_flip_p_values(diffs, a | b, design.margin)
    p_sup = np.minimum(1.0, 2 * np.minimum(p_divergence, p_accuracy))
    direction = np.where(p_divergence <= p_accuracy, np.sign(only_a - only_b), accuracy_sign)
    return seq.judge_p_values(p_sup, direction, p_eq, diffs.shape[-1], n_before, codes, design)


def two_part(studies: int) -> None:
    real = bench.realistic_cells()
    cases = {"realistic": real}
    for q in (0.3, 0.5):
        cases[f"mix_q{q:g}"] = bench._made_up(q)
    different = bench._made_up(0.1)
    different.q[3:5, 0] = 0.3  # placement 0 diverges more at lr 1 and 3: a real difference
    cases["divergence_0.3_vs_0.1"] = different
    can_count = np.array(
        [1 - real.q[g, [a, b]].prod() > 0 for g in range(bench.GROUPS) for a, b in bench.PAIRS]
    )
    expected = bench.expected_codes(real.means(), MARGIN, can_count)
    for name, cells in cases.items():
        sides = _Sides(cells.mean, cells.sd, cells.q, cells.failed, cells.failed_sd)
        scenario = bench.Scenario("x", sides.draw, cells.means())
        for test_name, test in (("sign-flip", _sign_flip), ("two-part", _two_part)):
            rng = np.random.default_rng([0, 7])
            codes, used = bench.simulate(scenario, seq.Design(), studies, rng, test)
            wrong, _ = bench.wrong_verdicts(codes, scenario.means, MARGIN)
            extra = ""
            if name == "realistic":
                extra = f", power {bench.power(codes, expected):.3f}"
            if name.startswith("divergence"):
                found = np.isin(codes[:, [9, 10, 12, 13]], (bench.A_BETTER, bench.B_BETTER))
                extra = f", the 4 real differences found {found.mean():.3f}"
            print(
                f"{name:22} {test_name:9}: any wrong better {wrong.mean():.4f}, "
                f"{used.mean():.1f} seeds per comparison{extra}",
                flush=True,
            )


def _one(q: float, offset: float = 0.0, sd: float = 0.005) -> bench.Cells:
    """One comparison: placements 0 and 1 of one learning rate."""
    cells = bench._made_up(q, groups=1, offsets=None if offset == 0 else [0, offset, 2 * offset])
    cells.sd[:] = sd / np.sqrt(2)

    class One(bench.Cells):
        def means(self):
            return super().means()[:1]

        def draw(self, rng, studies, seeds):
            d, w = super().draw(rng, studies, seeds)
            return d[:, :1], w[:, :1]

    return One(cells.mean, cells.sd, cells.q, cells.failed, cells.failed_sd)


def _noise(shape: str, rng, size):
    if shape == "t2":
        return rng.standard_t(2, size=size)
    if shape == "cauchy":
        return rng.standard_cauchy(size=size) * 0.3
    if shape == "lognormal":  # skewed: a long tail of low seeds, mean 0, SD 1
        x = rng.lognormal(0, 1, size=size)
        return -(x - np.exp(0.5)) / np.sqrt((np.e - 1) * np.e)
    return _normal_noise(shape, rng, size)


_normal_noise = bench._noise


def _run(name, cells, studies, kind="null", design=None, first=3, times=1) -> None:
    design = design or seq.Design()
    scenario = bench.Scenario(kind, cells.draw, cells.means())
    bench.FIRST_SEEDS = first
    out = []
    for test_name, test in bench.TESTS.items():
        rng = np.random.default_rng([1, sum(map(ord, name))])
        codes, used = bench.simulate(scenario, design, studies * times, rng, test)
        better, equivalent = bench.wrong_verdicts(codes, scenario.means, design.margin)
        out.append(
            f"{test_name}: better {better.mean():.4f} equivalent {equivalent.mean():.4f} "
            f"seeds {used.mean():4.1f}"
        )
    bench.FIRST_SEEDS = 3
    print(f"{name:28} {kind:6} K={len(scenario.means):2}  " + "  ".join(out), flush=True)


def unlisted(studies: int) -> None:
    for q in (0.05, 0.15, 0.3, 0.5, 0.7, 0.9, 0.95):
        _run(f"one_mix_q{q:g}", _one(q), studies, times=3)
    for q in (0.15, 0.3, 0.5, 0.7, 0.9):
        for sd in (0.002, 0.006):
            _run(f"one_margin_mix_q{q:g}_sd{sd:g}", _one(q, MARGIN, sd), studies, "margin", times=3)
    for q in (0.7, 0.9):
        _run(f"mix_q{q:g}", bench._made_up(q), studies)
        _run(
            f"margin_mix_q{q:g}",
            bench._made_up(q, offsets=np.arange(3) * MARGIN),
            studies,
            "margin",
        )
    for q in (0.2, 0.3, 0.9):
        _run(f"three_q{q:g}", bench._made_up(q, groups=1), studies)
    _run("three_q0.5_first2", bench._made_up(0.5, groups=1), studies, first=2)
    _run("mix_q0.5_first2", bench._made_up(0.5), studies, first=2)
    _run(
        "three_q0.5_max12", bench._made_up(0.5, groups=1), studies, design=seq.Design(max_seeds=12)
    )
    _run(
        "three_q0.5_max60", bench._made_up(0.5, groups=1), studies, design=seq.Design(max_seeds=60)
    )
    bench._noise = _noise
    for shape in ("t2", "cauchy", "lognormal"):
        _run(shape, bench._made_up(noise=shape), studies)
        _run(
            f"margin_{shape}",
            bench._made_up(noise=shape, offsets=np.arange(3) * MARGIN),
            studies,
            "margin",
        )
    bench._noise = _normal_noise


def adastop(studies: int) -> None:
    """AdaStop's own comparator on one learning rate's 3 placements (needs `pip install
    adastop`, which this project does not depend on)."""
    try:
        from adastop import MultipleAgentsComparator
    except ImportError:
        print("adastop is not installed (pip install adastop): skipped")
        return
    logging.disable(logging.CRITICAL)
    for q, shift in ((0.5, 0.0), (0.0, 0.0), (0.0, 0.006)):  # the sign-flip design, same setting
        cells = bench._made_up(q, groups=1)
        cells.sd[:], cells.mean[0, 0] = 0.005, cells.mean[0, 0] + shift
        scenario = bench.Scenario("x", cells.draw, cells.means())
        rng = np.random.default_rng([2, int(shift * 1000), int(q * 10)])
        codes, used = bench.simulate(
            scenario, seq.Design(), 10 * studies, rng, bench.TESTS["sign-flip"]
        )
        wrong, _ = bench.wrong_verdicts(codes, scenario.means, MARGIN)
        print(
            f"sign-flip, q {q:g}, shift {shift:g}: any wrong better {wrong.mean():.3f}, "
            f"placement 0 better than 1 {(codes[:, 0] == bench.A_BETTER).mean():.3f} at "
            f"{used[:, 0].mean():.1f} seeds ({10 * studies} studies)",
            flush=True,
        )
    rng = np.random.default_rng(0)
    for name, q, shift in (
        ("null_q0.5", 0.5, 0.0),
        ("null_normal", 0.0, 0.0),
        ("shift", 0.0, 0.006),
    ):
        wrong = found = 0
        runs = []
        for _ in range(studies):
            scores = np.where(rng.random((3, 30)) < q, 0.1, rng.normal(0.85, 0.005, (3, 30)))
            scores[0] += np.where(scores[0] > STABLE_MIN_ACCURACY, shift, 0.0)
            comparator = MultipleAgentsComparator(
                n=5, K=6, B=2000, alpha=0.05, seed=int(rng.integers(2**31))
            )
            for k in range(6):
                comparator.partial_compare(
                    {f"p{i}": scores[i, : 5 * (k + 1)] for i in range(3)}, verbose=False
                )
                if comparator.is_finished:
                    break
            verdicts = comparator.decisions
            wrong += shift == 0 and any(v in ("larger", "smaller") for v in verdicts.values())
            found += shift > 0 and verdicts[str(np.array([0, 1]))] == "larger"
            runs.append(np.mean(list(comparator.n_iters.values())))
        print(
            f"{name:12} any wrong 'different' {wrong / studies:.3f}, placement 0 shown larger "
            f"than 1 {found / studies:.3f}, {np.mean(runs):.1f} runs per placement",
            flush=True,
        )


PARTS = {
    "spending": spending_shapes,
    "bits": subgroup_bits,
    "two_part": two_part,
    "scenarios": unlisted,
    "adastop": adastop,
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=3000, help="simulated studies per case")
    parser.add_argument("--part", default="all", choices=["all", *PARTS])
    args = parser.parse_args(argv)
    for name, part in PARTS.items():
        if args.part == name or (args.part == "all" and name != "adastop"):
            print(f"--- {name}", flush=True)
            part(args.studies)


if __name__ == "__main__":
    main()
