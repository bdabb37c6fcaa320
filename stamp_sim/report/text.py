"""The words: plain-English findings computed from the results table (nothing hard-coded).

Every sentence is derived from the numbers passed in and phrased by the sign of a
difference, so a config that loses is said to lose. Sentences are plain text; the
Markdown and HTML renderers escape and lay them out.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from stamp_sim.report.columns import (
    COST_AXES,
    METRICS,
    Metric,
    choose_quality,
    has_values,
    hw_groups,
    require_columns,
)
from stamp_sim.report.accumulator import accumulator_sweeps, sweep_items
from stamp_sim.report.pairs import baseline_pairs, stamp_pairs
from stamp_sim.schema import FLOAT_BITS
from stamp_sim.report.pareto import best_under_budgets, dominators, pareto_front
from stamp_sim.report.usability import unusable, usability_rule

__all__ = ["FIGURE_CAPTIONS", "Section", "findings"]

#: Captions for the figures write_report makes, by figure name.
FIGURE_CAPTIONS = {
    "cost_vs_accuracy_energy": "Energy against accuracy per config, Pareto front as a line; dashed: the "
                               "unusable-accuracy limit (2x the float perplexity), when a config is above it.",
    "cost_vs_accuracy_latency": "Latency against accuracy per config, Pareto front as a line; dashed: the "
                                "unusable-accuracy limit, when a config is above it.",
    "energy_breakdown": "Energy per config split by component (MAC, accumulator, SRAM, DRAM, "
                        "transform, requantization).",
    "layer_sqnr": "Activation SQNR per linear layer, with and without STaMP.",
    "token_energy": "Energy per token row of one layer's activations before and after the "
                    "sequence transform; the shaded rows are kept at high bits.",
    "accumulator_sweep": "Perplexity and overflow rate against the inner accumulator width, one line per "
                         "weight method, mode and stage layout (dashed: saturating).",
}

# Accuracy metrics compared between a pair, in this order (those with values for both).
_PAIR_METRICS = ("ppl", "out_sqnr_db", "sqnr_db", "kl", "top1", "cosine", "overflow_rate")


@dataclasses.dataclass(frozen=True)
class Section:
    """A titled group of findings, each a plain-text sentence or two."""

    title: str
    items: tuple[str, ...]


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _first_value(df: pd.DataFrame, config: str, column: str) -> float:
    """A config's accuracy value: identical across hardware profiles, so the first finite one."""
    if column not in df.columns:
        return math.nan
    values = pd.to_numeric(df.loc[df["config"].astype(str) == config, column], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else math.nan


def _cost_value(df: pd.DataFrame, config: str, column: str) -> float:
    """A config's value of a cost column within one profile's rows (NaN when absent)."""
    if column not in df.columns:
        return math.nan
    return _num(next(iter(df.loc[df["config"].astype(str) == config, column]), math.nan))


def _first_text(df: pd.DataFrame, config: str, column: str) -> str:
    """A config's text field (weight_method, ...), '' when absent."""
    if column not in df.columns:
        return ""
    values = df.loc[df["config"].astype(str) == config, column].dropna().astype(str)
    return str(values.iloc[0]) if len(values) else ""


def _sides(results: pd.DataFrame, cand: str, base: str) -> list[str]:
    """What each side of a comparison runs on: its weight quantizer and its K / V cache width."""
    def kv(config):
        bits = _first_value(results, config, "kv_bits")
        avg = _first_value(results, config, "avg_kv_bits")
        if not math.isfinite(bits) or bits >= FLOAT_BITS:
            return "a float KV cache"
        avg_text = f", {METRICS['avg_kv_bits'].format(avg)} on average" if math.isfinite(avg) and avg != bits else ""
        return f"a {int(bits)}-bit KV cache{avg_text}"

    items = []
    wm_c, wm_b = _first_text(results, cand, "weight_method"), _first_text(results, base, "weight_method")
    if wm_c or wm_b:
        items.append(f"Weights: {wm_c.upper() or '?'} for {cand}, {wm_b.upper() or '?'} for {base}. "
                     f"KV cache: {kv(cand)} for {cand}, {kv(base)} for {base}.")
    return items


def _qual(metric: Metric, value) -> str:
    unit = f" {metric.unit}" if metric.unit and metric.unit not in ("bits",) else ""
    return f"{metric.name} {metric.format(value)}{unit}"


def _cost(metric: Metric, value) -> str:
    return f"{metric.format(value)} {metric.unit}"


def _pct(a: float, b: float) -> str:
    """How a compares with b in words, e.g. '38% less' or '2.0x more'."""
    if b == 0 or not math.isfinite(a) or not math.isfinite(b):
        return "n/a"
    ratio = a / b
    if ratio >= 2:
        return f"{ratio:.1f}x as much"
    change = ratio - 1
    if abs(change) < 0.005:
        return "about the same"
    return f"{abs(change):.0%} {'more' if change > 0 else 'less'}"


def _knee(costs: np.ndarray, goods: np.ndarray, log_quality: bool) -> int | None:
    """Index (into the front, sorted by cost) of the point farthest from the chord joining the
    cheapest and the most accurate front points, both axes scaled to [0, 1]; None under 3 points."""
    if len(costs) < 3:
        return None
    q = np.log(np.abs(goods)) * np.sign(goods) if log_quality else goods
    c = (costs - costs.min()) / (np.ptp(costs) or 1.0)
    g = (q - q.min()) / (np.ptp(q) or 1.0)
    p0, p1 = np.array([c[0], g[0]]), np.array([c[-1], g[-1]])
    chord = p1 - p0
    norm = np.hypot(*chord) or 1.0
    dist = np.abs(chord[0] * (g - p0[1]) - chord[1] * (c - p0[0])) / norm
    inner = dist[1:-1]
    if not len(inner) or inner.max() <= 1e-9:
        return None
    return int(np.argmax(inner)) + 1


def _finite_rows(df: pd.DataFrame, cost: Metric, quality: Metric) -> pd.DataFrame:
    """Rows with a finite cost and quality, and usable accuracy (``usability.unusable``)."""
    ok = df.loc[pd.to_numeric(df[cost.column], errors="coerce").notna()
                & pd.to_numeric(df[quality.column], errors="coerce").notna()]
    ok = ok.loc[np.isfinite(ok[cost.column].astype(float)) & np.isfinite(ok[quality.column].astype(float))]
    return ok.loc[~unusable(ok)] if len(ok) else ok


def _front(ok: pd.DataFrame, cost: Metric, quality: Metric) -> pd.DataFrame:
    front = ok.loc[pareto_front(ok, cost.column, quality.column, bool(quality.higher_is_better))]
    return front.iloc[np.argsort(front[cost.column].astype(float).to_numpy(), kind="stable")]


def _tradeoff_items(df: pd.DataFrame, cost: Metric, quality: Metric) -> list[str]:
    """Cheapest, knee, most accurate and dominated configs for one hw and axis, among the
    usable configs; then the unusable ones, named with their numbers but not recommended."""
    hib = bool(quality.higher_is_better)
    ok = _finite_rows(df, cost, quality)
    bad = df.loc[unusable(df)]
    skipped = ([f"Not recommended, accuracy unusable (see the rule above): "
                + ", ".join(f"{r['config']} ({_cost(cost, r[cost.column])}, {_qual(quality, r[quality.column])})"
                            for _, r in bad.iterrows()) + "."] if len(bad) else [])
    if ok.empty:
        return [f"No usable config has both {cost.name} and {quality.name}."] + skipped
    if len(ok) == 1:
        row = ok.iloc[0]
        return [f"Only {row['config']} is usable and has both {cost.name} and {quality.name} "
                f"({_cost(cost, row[cost.column])}, {_qual(quality, row[quality.column])}): nothing to trade off."
                ] + skipped
    front = _front(ok, cost, quality)
    cheapest, best = front.iloc[0], front.iloc[-1]
    items = []
    if len(front) == 1 or cheapest["config"] == best["config"]:
        items.append(f"{cheapest['config']} is both the cheapest ({_cost(cost, cheapest[cost.column])}) and the "
                     f"most accurate ({_qual(quality, cheapest[quality.column])}) usable config: every other "
                     f"usable config is dominated.")
    else:
        items.append(
            f"Cheapest usable: {cheapest['config']} at {_cost(cost, cheapest[cost.column])} "
            f"({_qual(quality, cheapest[quality.column])}). Most accurate: {best['config']} at "
            f"{_cost(cost, best[cost.column])} ({_qual(quality, best[quality.column])}).")
        goods = front[quality.column].astype(float).to_numpy() * (1 if hib else -1)
        qvals = front[quality.column].astype(float).to_numpy()
        log_q = quality.column == "ppl" and bool((qvals > 0).all()) and qvals.max() / qvals.min() > 10
        k = _knee(front[cost.column].astype(float).to_numpy(), goods, log_q)
        if k is not None:
            knee = front.iloc[k]
            change = _pct(float(knee[cost.column]), float(best[cost.column]))
            than = "than" if change.endswith(("more", "less")) else "as"
            items.append(
                f"Knee of the Pareto front: {knee['config']} at {_cost(cost, knee[cost.column])} "
                f"({_qual(quality, knee[quality.column])}): {change} {cost.name} {than} the most accurate, "
                f"{best['config']} ({_qual(quality, best[quality.column])}).")
    dom = dominators(ok, cost.column, quality.column, hib)
    dominated = [f"{ok.loc[i, 'config']} (by {ok.loc[j, 'config']})" for i, j in dom.items() if j is not None]
    if dominated:
        items.append(f"Dominated on {cost.name} (another usable config is at least as cheap and at least as "
                     f"accurate, better in one): " + ", ".join(dominated) + ".")
    else:
        items.append(f"No usable config is dominated on {cost.name}: each is the best at its own cost.")
    return items + skipped


def _budget_item(df: pd.DataFrame, cost: Metric, quality: Metric, where: str) -> str | None:
    """Which usable config wins under which budget: each front point from its own cost up to the next one's."""
    ok = _finite_rows(df, cost, quality)
    if ok.empty:
        return None
    front = _front(ok, cost, quality)
    budgets = front[cost.column].astype(float).drop_duplicates().tolist()
    picks = best_under_budgets(ok, cost.column, quality.column, bool(quality.higher_is_better), budgets)
    spans = []
    for i, pick in picks.iterrows():
        lo = cost.format(pick["budget"])
        if i + 1 < len(picks):
            span = f"{lo} to under {cost.format(picks['budget'].iloc[i + 1])} {cost.unit}"
        else:
            span = f"{lo} {cost.unit} or more"
        spans.append(f"{span}: {pick['config']} ({_qual(quality, pick[quality.column])})")
    return (f"Best usable config under each {cost.name} budget{where}: below {cost.format(budgets[0])} {cost.unit} "
            f"none fits; " + "; ".join(spans) + ".")


def _stamp_item(results: pd.DataFrame, cand: str, base: str, quality: Metric) -> str:
    """What STaMP buys in one sentence: the quality change and the cost change on each profile."""
    qc, qb = _first_value(results, cand, quality.column), _first_value(results, base, quality.column)
    bits = METRICS["avg_a_bits"]
    bc, bb = _first_value(results, cand, "avg_a_bits"), _first_value(results, base, "avg_a_bits")
    budget = f"at {bits.format(bc)} average activation bits" if bits.format(bc) == bits.format(bb) else \
        f"at {bits.format(bc)} vs {bits.format(bb)} average activation bits"
    costs = []
    for hw, df in hw_groups(results):
        for column in COST_AXES:
            m = METRICS[column]
            vc, vb = _cost_value(df, cand, column), _cost_value(df, base, column)
            if math.isfinite(vc) and math.isfinite(vb):
                costs.append(f"{_pct(vc, vb)} {m.name}" + (f" on {hw}" if hw else ""))
    rows = results.drop_duplicates("config")
    flags = dict(zip(rows["config"].astype(str), unusable(rows)))
    caveat = " Both are unusable under the rule above." if flags.get(cand, False) and flags.get(base, False) \
        else (f" {cand} is unusable under the rule above." if flags.get(cand, False) else "")
    return (f"{cand} vs {base} ({budget}): {quality.name} {quality.format(qb)} -> {quality.format(qc)}, for "
            + (", ".join(costs) if costs else "no priced cost") + "." + caveat)


def _compare(results: pd.DataFrame, cand: str, base: str, what: str) -> Section:
    items = _sides(results, cand, base)
    bits = METRICS["avg_a_bits"]
    b_c, b_b = _first_value(results, cand, "avg_a_bits"), _first_value(results, base, "avg_a_bits")
    if math.isfinite(b_c) and math.isfinite(b_b):
        if bits.format(b_c) == bits.format(b_b):
            items.append(f"Average activation bits: {bits.format(b_c)} for both.")
        else:
            items.append(f"Average activation bits differ: {bits.format(b_c)} for {cand} vs {bits.format(b_b)} "
                         f"for {base}, so this is not a matched-budget comparison.")
    acc_c, acc_b = _first_value(results, cand, "acc_bits"), _first_value(results, base, "acc_bits")
    if math.isfinite(acc_c) and math.isfinite(acc_b) and acc_c != acc_b:
        acc = METRICS["acc_bits"]
        items.append(f"Accumulator bits: {acc.format(acc_c)} for {cand} vs {acc.format(acc_b)} for {base}.")
    wins, losses = [], []
    for column in _PAIR_METRICS:
        m = METRICS[column]
        vc, vb = _first_value(results, cand, column), _first_value(results, base, column)
        if not (math.isfinite(vc) and math.isfinite(vb)):
            continue
        unit = f" {m.unit}" if m.unit else ""
        if m.format(vc) == m.format(vb):
            items.append(f"{cand} has the same {m.name} as {base} ({m.format(vc)}{unit}, to the digits shown).")
            continue
        word = "higher" if vc > vb else "lower"
        better = (vc > vb) == bool(m.higher_is_better)
        (wins if better else losses).append(m.name)
        items.append(f"{cand} has {word} {m.name} than {base} ({m.format(vc)}{unit} vs {m.format(vb)}{unit}): "
                     f"{'better' if better else 'worse'}.")
    if wins and not losses:
        items.append(f"On these numbers {cand} beats {base} on every accuracy metric compared.")
    elif losses and not wins:
        items.append(f"On these numbers {cand} loses to {base} on every accuracy metric compared.")
    elif wins and losses:
        items.append(f"Mixed: {cand} is better on {', '.join(wins)} and worse on {', '.join(losses)}.")
    for hw, df in hw_groups(results):
        parts = []
        for column in COST_AXES:
            m = METRICS[column]
            vc, vb = _cost_value(df, cand, column), _cost_value(df, base, column)
            if math.isfinite(vc) and math.isfinite(vb):
                parts.append(f"{_pct(vc, vb)} {m.name} ({_cost(m, vc)} vs {_cost(m, vb)})")
        if parts:
            where = f"On {hw}, " if hw else ""
            items.append(f"{where}{cand} costs " + " and ".join(parts) + f" compared with {base}.")
    return Section(f"{cand} vs {base}: {what}", tuple(items))


def _answer(results: pd.DataFrame, quality: Metric | None) -> Section:
    """The answer first: the best usable config under each budget, and what STaMP buys."""
    items = []
    if quality is None:
        return Section("Answer", ("No accuracy column (ppl, out_sqnr_db, sqnr_db) has values: only costs are "
                                  "reported, so no config is recommended.",))
    items.append(usability_rule(results))
    for hw, df in hw_groups(results):
        for column in COST_AXES:
            if has_values(df, column):
                item = _budget_item(df, METRICS[column], quality, f" on {hw}" if hw else "")
                items.append(item or f"No usable config has both {METRICS[column].name} and {quality.name}"
                                     + (f" on {hw}." if hw else "."))
    for pair in stamp_pairs(results):
        items.append("What STaMP buys: " + _stamp_item(results, pair.candidate, pair.baseline, quality))
    return Section("Answer", tuple(items))


def findings(results: pd.DataFrame) -> list[Section]:
    """Findings about ``results`` (one row per config and hardware profile), as titled sections.

    Quality is ``ppl`` (lower is better) when it has values, else ``out_sqnr_db``
    (higher is better). First the answer: the usability rule (``report.usability``), the
    best usable config under each energy and latency budget per profile, and what each
    STaMP config buys over its matched baseline. Then an overview; for each profile and
    cost axis the cheapest and most accurate usable configs, the Pareto knee, the
    dominated and the unusable configs; then each config against the baseline it
    declares (results' ``baseline`` column), when both are present. Unusable configs are
    named with their numbers but never recommended.
    """
    require_columns(results, ["config"], "findings")
    quality = choose_quality(results)
    sections = [_answer(results, quality)]
    configs = [str(c) for c in pd.unique(results["config"].astype(str))]
    overview = [f"{len(configs)} config(s): {', '.join(configs)}."]
    profiles = [hw for hw, _ in hw_groups(results) if hw]
    if profiles:
        overview.append(f"Priced on {len(profiles)} hardware profile(s): {', '.join(profiles)}.")
    if quality is not None:
        way = "higher" if quality.higher_is_better else "lower"
        overview.append(f"Accuracy is ranked by {quality.name} ({way} is better).")
        ranked = (results.drop_duplicates("config").assign(_q=lambda d: pd.to_numeric(d[quality.column],
                                                                                      errors="coerce"))
                  .dropna(subset=["_q"]).sort_values("_q", ascending=not quality.higher_is_better, kind="stable"))
        flags = unusable(ranked)
        if len(ranked):
            overview.append(f"By {quality.name}, best first: "
                            + ", ".join(f"{r['config']} {quality.format(r['_q'])}" + (" (unusable)" if flags[i] else "")
                                        for i, r in ranked.iterrows()) + ".")
    sections.append(Section("Overview", tuple(overview)))
    if quality is not None:
        for hw, df in hw_groups(results):
            for column in COST_AXES:
                if not has_values(df, column):
                    continue
                cost = METRICS[column]
                title = f"{hw}: {cost.name} vs {quality.name}" if hw else f"{cost.name} vs {quality.name}"
                sections.append(Section(title[:1].upper() + title[1:] if not hw else title,
                                        tuple(_tradeoff_items(df, cost, quality))))
    for pair in baseline_pairs(results):
        sections.append(_compare(results, pair.candidate, pair.baseline, pair.change or "the same config"))
    sweeps = accumulator_sweeps(results)
    if len(sweeps):
        sections.append(Section("Accumulator width vs accuracy", tuple(sweep_items(sweeps))))
    return sections
