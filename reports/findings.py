"""Numbers -> sentences: the report's answer, each sentence carrying its CI or p-value.

Every function takes the frames that `reports.stats` and `reports.selection` computed and
returns plain strings; the HTML step only arranges them.
"""

from __future__ import annotations

import math

import pandas as pd

from reports import factor_findings
from reports.contexts import CONTEXT_KEYS
from reports.frames import NO_RESULTS
from reports.stats import ALPHA, BASELINE
from reports.wording import context_label, fmt_ci, fmt_num, fmt_p


def _outcome_words(outcome: str) -> str:
    """A cell's outcome as a sentence reads it: 'diverged' -> 'diverged on every seed'."""
    return {"diverged": "diverged on every seed", "stable": "did not diverge"}.get(outcome, outcome)


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _needed(row, aside: str = " ({})") -> str:
    """'not distinguishable with 3 seeds (about 12 needed)' and its variants; `aside` wraps
    the part after the seeds."""
    base = f"not distinguishable with {_seeds(int(row['n_pairs']))}"
    if row["note"]:
        return base + aside.format(row["note"])
    needed = row["seeds_needed"]
    if not math.isfinite(needed):
        return base
    return base + aside.format(f"about {int(needed)} needed")


def _difference(row) -> str:
    """'+0.012, 95% CI 0.004 to 0.020, P(A > B) 1.00 [0.67, 1.00]' (the verdict says whether
    it is significant, within the design's family)."""
    prob = f"P({row['placement_a']} > {row['placement_b']}) {fmt_num(row['prob_improvement'], 2)}"
    if math.isfinite(row["prob_ci_low"]):
        prob += f" [{row['prob_ci_low']:.2f}, {row['prob_ci_high']:.2f}]"
    return f"{row['mean_diff']:+.3f}, {fmt_ci(row['diff_ci_low'], row['diff_ci_high'])}, {prob}"


def confound_sentence(best_comparisons: pd.DataFrame) -> str | None:
    """The warning that opens a context whose placements differ in more than the placement."""
    differing = best_comparisons[best_comparisons["also_differs"].fillna("") != ""]
    if differing.empty:
        return None
    pairs = "; ".join(
        f"{row['placement_a']} vs {row['placement_b']}: {row['also_differs']}"
        for _, row in differing.iterrows()
    )
    return (
        "Caution: these placements differ in more than where the normalization sits, so every "
        f"comparison between them below mixes those differences in ({pairs})."
    )


def _by_context(frame: pd.DataFrame, keys: dict) -> pd.DataFrame:
    if frame.empty:
        return frame
    mask = pd.Series(True, index=frame.index)
    for k in CONTEXT_KEYS:
        mask &= frame[k] == keys[k]
    return frame[mask]


TEST_WORDS = {"t": ("paired t", "TOST")}  # runs stored before the sign-flip tests


def verdict_words(row, margin: float) -> str:
    """A comparison's verdict in words: 'none better (12 seeds, sign-flip p=0.002)', 'equivalent
    within ±0.3 points (12 seeds, sign-flip TOST p=0.010)', 'undecided with 3 seeds (a verdict
    needs at least 12 seeds; the difference is +0.4 ± 1.2 points)'. Rows without a verdict say
    how many seeds a test would need."""
    verdict = row.get("verdict")
    if not isinstance(verdict, str):
        return _needed(row, "; {}")
    seeds = _seeds(int(row["verdict_seeds"]))
    better, equivalent = TEST_WORDS.get(row.get("verdict_test"), ("sign-flip", "sign-flip TOST"))
    if verdict in ("a_better", "b_better"):
        winner = row["placement_a"] if verdict == "a_better" else row["placement_b"]
        return f"{winner} better ({seeds}, {better} {fmt_p(row['p_superiority'])})"
    if verdict == "equivalent":
        return (
            f"equivalent within ±{margin * 100:g} points ({seeds}, {equivalent} "
            f"{fmt_p(row['p_equivalence'])})"
        )
    least, spread = row.get("verdict_min_seeds"), _spread(row)
    parts = [f"the difference is {spread}"] if spread else []
    if pd.notna(least) and least > row["verdict_seeds"]:
        parts.insert(0, f"a verdict needs at least {int(least)} seeds")
    return f"undecided with {seeds}" + (f" ({'; '.join(parts)})" if parts else "")


def _spread(row) -> str:
    """'+0.4 ± 1.2 points': the mean difference and its 95% CI half-width, in points."""
    if not math.isfinite(row["diff_ci_low"]):
        return ""
    half = (row["diff_ci_high"] - row["diff_ci_low"]) / 2 * 100
    return f"{round(row['mean_diff'] * 100, 1) + 0.0:+.1f} ± {half:.1f} points"  # no '-0.0'


def _wins(row, placement: str) -> bool:
    return row.get("verdict") == ("a_better" if row["placement_a"] == placement else "b_better")


def best_placement(best: pd.DataFrame, best_comparisons: pd.DataFrame, margin: float) -> list[str]:
    """Which placement is best at its own best learning rate, and by how much."""
    if best.empty:
        return []
    top = best.iloc[0]
    versus = [
        row
        for _, row in best_comparisons.iterrows()
        if top["placement"] in (row["placement_a"], row["placement_b"])
    ]
    accuracy = (
        f"test accuracy {fmt_num(top['test_accuracy_mean'])} "
        f"({fmt_ci(top['test_accuracy_ci_low'], top['test_accuracy_ci_high'])}, "
        f"{_seeds(int(top['n_seeds']))}) at its own best learning rate (lr {top['chosen_lrs']}, "
        "chosen per seed on validation)"
    )
    if len(best) == 1:
        lead = f"One placement in this run: {top['placement']}, with {accuracy}."
    elif versus and all(_wins(row, top["placement"]) for row in versus):
        lead = f"Best placement: {top['placement']}, with {accuracy}."
    else:
        lead = (
            f"No placement is clearly best: {top['placement']} has the highest mean {accuracy}, "
            "but not every verdict says it is better."
        )
    sentences = [lead]
    for _, row in best_comparisons.iterrows():
        if row["mean_diff"] < 0:
            row = _oriented(row, row["placement_b"])
        sentences.append(
            f"{row['placement_a']} vs {row['placement_b']}, each at its best learning rate, on "
            f"test accuracy: {_difference(row)}; {verdict_words(row, margin)}."
        )
    return sentences


_FLIPPED = {"a_better": "b_better", "b_better": "a_better"}


def _oriented(row: pd.Series, first: str) -> pd.Series:
    """The comparison row read as `first` minus the other placement."""
    if row["placement_a"] == first:
        return row
    flipped = row.copy()
    flipped["placement_a"], flipped["placement_b"] = row["placement_b"], row["placement_a"]
    flipped["mean_diff"] = -row["mean_diff"]
    flipped["diff_ci_low"], flipped["diff_ci_high"] = -row["diff_ci_high"], -row["diff_ci_low"]
    flipped["prob_improvement"] = 1 - row["prob_improvement"]
    flipped["prob_ci_low"], flipped["prob_ci_high"] = (
        1 - row["prob_ci_high"],
        1 - row["prob_ci_low"],
    )
    if "verdict" in row:
        flipped["verdict"] = _FLIPPED.get(row["verdict"], row["verdict"])
    return flipped


def pair_across_lrs(comparisons: pd.DataFrame, a: str, b: str, margin: float) -> str | None:
    """One sentence: where A and B differ across the learning rates, where they are
    equivalent, and where it is undecided."""
    rows = comparisons[(comparisons["placement_a"] == a) & (comparisons["placement_b"] == b)]
    if rows.empty:
        return None
    different, alike, unsettled, both_diverged = [], [], [], []
    for _, row in rows.sort_values("lr").iterrows():
        lr = f"lr {row['lr']:g}"
        if row["outcome_a"] == row["outcome_b"] == "diverged":
            both_diverged.append(f"{row['lr']:g}")
        elif row.get("verdict") in ("a_better", "b_better"):
            outcome = ""
            if row["outcome_a"] != "stable" or row["outcome_b"] != "stable":
                outcome = (
                    f"{a} {_outcome_words(row['outcome_a'])}, "
                    f"{b} {_outcome_words(row['outcome_b'])}: "
                )
            different.append(f"{lr} ({outcome}{_difference(row)}; {verdict_words(row, margin)})")
        elif row.get("verdict") == "equivalent":
            alike.append(f"{lr} ({verdict_words(row, margin)})")
        else:
            unsettled.append((row, f"{lr} ({_spread(row) or 'no spread yet'})"))
    parts = []
    if different:
        parts.append("they differ at " + "; ".join(different))
    if alike:
        parts.append("they are equivalent at " + "; ".join(alike))
    if unsettled:
        seeds = _seeds(int(max(row["n_pairs"] for row, _ in unsettled)))
        parts.append(f"undecided with {seeds} at " + ", ".join(text for _, text in unsettled))
    if both_diverged:
        parts.append(f"both diverged on every seed at lr {', '.join(both_diverged)}")
    return f"{a} vs {b}, paired by seed at each learning rate: " + "; ".join(parts) + "."


def learning_rate_role(interaction: pd.DataFrame, comparisons: pd.DataFrame) -> list[str]:
    """Does the learning rate change the comparison? The interaction test and BN's gain per lr."""
    sentences = []
    for _, row in interaction.iterrows():
        if row["note"]:
            sentences.append(
                f"Placement x learning-rate interaction over {row['scope']}: not tested "
                f"({row['note']})."
            )
            continue
        verdict = (
            "the learning rate changes how the placements compare"
            if row["p_value"] < ALPHA
            else "no evidence that the learning rate changes how the placements compare"
        )
        sentences.append(
            f"Over {row['scope']} ({int(row['n_levels'])} of them): {verdict} (placement x "
            f"learning-rate interaction, two-way ANOVA with seeds as blocks, "
            f"F={row['f_value']:.2f}, {fmt_p(row['p_value'])})."
        )
    for a in sorted(set(comparisons.loc[comparisons["placement_b"] == BASELINE, "placement_a"])):
        rows = comparisons[
            (comparisons["placement_a"] == a) & (comparisons["placement_b"] == BASELINE)
        ]
        gains = []
        for _, row in rows.sort_values("lr").iterrows():
            if row["outcome_a"] == row["outcome_b"] == "diverged":
                gains.append(f"both diverged at {row['lr']:g}")
            elif row["outcome_b"] == "diverged":
                gains.append(f"{row['mean_diff']:+.3f} at {row['lr']:g} (where none diverged)")
            else:
                gains.append(f"{row['mean_diff']:+.3f} at {row['lr']:g}")
        sentences.append(
            f"Gain of {a} over none in val_accuracy, by learning rate: {', '.join(gains)}."
        )
    return sentences


def stable_learning_rates(stable: pd.DataFrame) -> str | None:
    """The largest stable learning rate of every placement, in one sentence."""
    if stable.empty:
        return None
    parts = []
    for _, row in stable.iterrows():
        if not math.isfinite(row["largest_stable_lr"]):
            parts.append(
                f"{row['placement']}: no learning rate tested was stable (the smallest, "
                f"{row['unstable_from']:g}: {_outcome_words(row['unstable_outcome'])})"
            )
            continue
        what = f"{row['largest_stable_lr']:g}"
        if math.isfinite(row["unstable_from"]):
            what += f" (at {row['unstable_from']:g}: {_outcome_words(row['unstable_outcome'])})"
        else:
            what += " (the largest tested; it never diverged)"
        parts.append(f"{row['placement']} {what}")
    return "Largest stable learning rate: " + "; ".join(parts) + "."


def answer(frames: dict[str, pd.DataFrame]) -> list[str]:
    """The page's first section: the answer, for each study context in the run, then the other
    factors' effects. `frames`: what `reports.analysis.analyze` computed."""
    best, best_comparisons = frames["best_lr"], frames["best_lr_comparisons"]
    comparisons, stable = frames["comparisons"], frames["stable_lr"]
    interaction = _lr_rows(frames["interaction"])
    if best.empty:
        return [nothing_finished(frames["trials"])]
    margin = design_margin(frames)
    contexts = best[CONTEXT_KEYS].drop_duplicates().to_dict("records")
    sentences = []
    for keys in contexts:
        versus = _by_context(best_comparisons, keys)
        lines = [confound_sentence(versus)]
        lines += best_placement(_by_context(best, keys), versus, margin)
        here = _by_context(comparisons, keys)
        pairs = here[["placement_a", "placement_b"]].drop_duplicates()
        bn_pairs = pairs[(pairs["placement_a"] != BASELINE) & (pairs["placement_b"] != BASELINE)]
        for _, pair in bn_pairs.iterrows():
            lines.append(pair_across_lrs(here, pair["placement_a"], pair["placement_b"], margin))
        lines += learning_rate_role(_by_context(interaction, keys), here)
        lines.append(stable_learning_rates(_by_context(stable, keys)))
        prefix = f"[{context_label(keys)}] " if len(contexts) > 1 else ""
        sentences += [prefix + line for line in lines if line]
    return sentences + factor_findings.sentences(frames)


def nothing_finished(trials: pd.DataFrame) -> str:
    """Why there is no answer: how the run's trials stand, naming those without results."""
    if trials.empty:
        return "No trial has been recorded yet: nothing to conclude."
    counts = ", ".join(f"{n} {status}" for status, n in trials["status"].value_counts().items())
    line = f"No trial has finished yet: nothing to conclude ({counts})"
    without = trials.loc[trials["problem"] == NO_RESULTS, "trial_dir"]
    if not without.empty:
        names = ", ".join(without.astype(str)[:3])
        names += f" and {len(without) - 3} more" if len(without) > 3 else ""
        line += f"; {len(without)} with no result.json (no report yet, or it was deleted): {names}"
    return line + "."


def _plainness(keys: dict) -> tuple:
    """Sorts the contexts the summary may speak of: BN's own question first, then the rest."""
    return (
        bool(keys["preset"]),
        keys["norm"] != "batch",
        keys["arch"] != "mlp",
        *map(str, keys.values()),
    )


def _lr_rows(interaction: pd.DataFrame) -> pd.DataFrame:
    return interaction[interaction["factor"] == "lr"] if not interaction.empty else interaction


def summary(frames: dict[str, pd.DataFrame]) -> list[str]:
    """The answer in three short lines for a terminal: placement, learning rate, stability.

    The first names the context it speaks of; with several it speaks of the plainest (batch
    norm, no preset, see `_plainness`) and says how many there are (the report has them all).
    """
    best = frames["best_lr"]
    if best.empty:
        return [nothing_finished(frames["trials"])]
    contexts = best[CONTEXT_KEYS].drop_duplicates().to_dict("records")
    keys = min(contexts, key=_plainness)
    lines = [
        _placement_line(
            _by_context(best, keys),
            _by_context(frames["best_lr_comparisons"], keys),
            design_margin(frames),
        ),
        _learning_rate_line(_by_context(_lr_rows(frames["interaction"]), keys)),
        _stability_line(_by_context(frames["stable_lr"], keys)),
    ]
    more = f"; 1 of {len(contexts)} settings, the report has all" if len(contexts) > 1 else ""
    lines[0] = lines[0].replace("Placement: ", f"Placement [{context_label(keys)}{more}]: ", 1)
    return lines


SPENDING_NAMES = {
    "hwang_shih_decani_-2": "Hwang-Shih-DeCani (gamma -2)",
    "hwang_shih_decani": "Hwang-Shih-DeCani (gamma -4)",
    "obrien_fleming": "O'Brien-Fleming",
}


def _tests_sentence(verdicts) -> str:
    """How 'better' and 'equivalent' are tested, for a reader without statistics training."""
    tests = set() if verdicts is None or "test" not in verdicts else set(verdicts["test"])
    if tests == {"t"}:  # a run stored before the sign-flip tests
        return " 'Better' came from a paired t-test, 'equivalent' from two one-sided t-tests."
    return (
        " 'Better' comes from a sign-flip test: were the placements alike, each seed's "
        "difference would be as likely negative as positive, so the test counts how often "
        "flipping the seeds' signs gives a total as large as the one seen; unlike a t-test it "
        "holds whatever the scores look like, seeds that diverged included, but few seeds "
        "cannot decide (3 seeds all one way happen 1 time in 4 by chance). 'Equivalent' uses "
        "the same test against both ends of the margin, on the seeds where at least one of the "
        "two trained (two diverged models agree without showing that the placements do)."
    )


def design_paragraph(frames: dict) -> str:
    """The verdicts' design in one paragraph: what is compared, the tests, alpha, margin, looks,
    spending."""
    verdicts, looks = frames.get("verdicts"), frames.get("looks")
    design = frames["design"].iloc[0]
    n = 0 if verdicts is None else len(verdicts)
    text = (
        f"Verdicts: each of the {n} comparisons of interest (every pair of placements at each "
        "learning rate on final val accuracy, and each at its own best learning rate on test "
        "accuracy, paired by seed) ends as one placement better, equivalent within "
        f"±{design['margin'] * 100:g} accuracy points, or undecided."
        + _tests_sentence(verdicts)
        + f" Each error is held at alpha={design['alpha']:g} family-wise: 'better' "
        "where there is no difference, and 'equivalent' where the difference is a full margin, "
        "with Holm's method across the comparisons."
    )
    if looks is None or looks.empty:
        return text + " The seeds were fixed: one look at the seeds the run has."
    planned = design["looks"]
    reached = ", ".join(str(int(v)) for v in looks["seeds"])
    return text + (
        f" Seeds were added look by look (--settle), only to the cells of undecided "
        f"comparisons, up to {int(design['max_seeds'])} per cell; alpha is spent across looks "
        f"by {SPENDING_NAMES.get(design['spending'], design['spending'])} on the share of the "
        f"budget used (planned looks at {planned} seeds); this run looked at {reached}. A "
        "verdict, once made, stands."
    )


def design_margin(frames: dict) -> float:
    """The equivalence margin (accuracy) the verdicts were made with."""
    design = frames.get("design")
    return float(design["margin"].iloc[0]) if design is not None and len(design) else 0.003


def _placement_line(best: pd.DataFrame, best_comparisons: pd.DataFrame, margin: float) -> str:
    top = best.iloc[0]
    accuracy = (
        f"test accuracy {fmt_num(top['test_accuracy_mean'])} at its best lr "
        f"({fmt_ci(top['test_accuracy_ci_low'], top['test_accuracy_ci_high'])})"
    )
    if len(best) == 1:
        return f"Placement: only {top['placement']} in this run, {accuracy}."
    versus = []
    for _, row in best_comparisons.iterrows():
        if top["placement"] not in (row["placement_a"], row["placement_b"]):
            continue
        row = _oriented(row, top["placement"])
        verdict = verdict_words(row, margin)
        if row.get("also_differs"):
            fields = ", ".join(part.split()[0] for part in row["also_differs"].split("; "))
            verdict += f"; confounded: they also differ in {fields}"
        versus.append((row, f"vs {row['placement_b']} {row['mean_diff']:+.3f}: {verdict}"))
    clearly = versus and all(_wins(row, top["placement"]) for row, _ in versus)
    lead = "best" if clearly else "highest, not clearly best"
    return (
        f"Placement: {top['placement']} {lead}, {accuracy}; "
        + "; ".join(v for _, v in versus)
        + "."
    )


def _learning_rate_line(interaction: pd.DataFrame) -> str:
    tested = interaction[interaction["note"] == ""]
    if tested.empty:
        note = interaction["note"].iloc[0] if not interaction.empty else "one learning rate"
        return f"Learning rate: its interaction with placement was not tested ({note})."
    stable_scope = tested[tested["scope"] != "all learning rates"]
    row = (stable_scope if not stable_scope.empty else tested).iloc[0]
    verdict = (
        "it changes how the placements compare"
        if row["p_value"] < ALPHA
        else "no evidence that it changes how the placements compare"
    )
    n = int(row["n_levels"])
    scope = (
        f"all {n} learning rates"
        if row["scope"] == "all learning rates"
        else f"the {n} {row['scope']}"
    )
    return (
        f"Learning rate: {verdict} (placement x lr interaction F={row['f_value']:.2f}, "
        f"{fmt_p(row['p_value'])}, over {scope})."
    )


def _stability_line(stable: pd.DataFrame) -> str:
    parts = []
    for _, row in stable.iterrows():
        if not math.isfinite(row["largest_stable_lr"]):
            parts.append(f"{row['placement']} (no learning rate tested was stable)")
        elif math.isfinite(row["unstable_from"]):
            parts.append(f"{row['placement']} {row['largest_stable_lr']:g}")
        else:
            parts.append(f"{row['placement']} {row['largest_stable_lr']:g} (the largest tested)")
    return "Largest stable lr: " + ", ".join(parts) + "."
