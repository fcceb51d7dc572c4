"""What runs of :mod:`course_utils.training` show: a table narrow enough for a notebook column, and sentences
that state what the runs' own numbers say (one seed: no verdict; several seeds: the per-seed differences
and how often they agree by chance).

Everything here reads :class:`~course_utils.training.RunResult` objects; nothing trains.
"""

from __future__ import annotations

import html
from dataclasses import asdict

import numpy as np

from course_utils.checks import check_choice
from course_utils.training import COMPARED_METRICS, LOSSES, ONE_CYCLE_MOMENTUM, RunResult

__all__ = ["describe_comparison", "results_html", "results_table"]


def results_table(runs) -> list[dict]:
    """One row per run: its config, accuracy, macro-F1, rare-class recall and recall per class."""
    rows = []
    for i, run in enumerate(runs, 1):
        row = {"run": i, **asdict(run.config), "accuracy": run.accuracy, "macro_f1": run.macro_f1,
               "rare_recall": run.rare_recall(), "seconds": run.seconds}
        row.update({f"recall_{c}": r for c, r in enumerate(run.recall)})
        rows.append(row)
    return rows


def results_html(runs) -> str:
    """The result table as HTML narrow enough for a notebook column (~700 px, with the file browser open).

    One row per run: its setting in one cell that wraps, accuracy, macro-F1, the mean recall of the 3
    rarest classes and each of those recalls (every class's recall is in the dashboard's bar chart).
    """
    if not runs:
        return "<i>No runs yet: press Train.</i>"
    rare = runs[0].rare_classes()
    head = ["#", "setting", "acc.", "<b>macro-F1</b>", "rare recall", f"recall {' / '.join(map(str, rare))}"]
    cell = "padding:1px 5px;text-align:right;vertical-align:top;white-space:nowrap"
    wrap = "padding:1px 5px;text-align:left;vertical-align:top;white-space:normal;min-width:160px"
    lines = ["<table style='border-collapse:collapse;font-size:90%;max-width:700px'>", "<tr>" + "".join(
        f"<th style='{wrap if h == 'setting' else cell}'>{h}</th>" for h in head) + "</tr>"]
    cycled = False
    for i, run in enumerate(runs, 1):
        c = run.config
        star = "*" if c.cycled_momentum() else ""
        cycled |= bool(star)
        setting = (f"{html.escape(LOSSES[c.loss])} · {c.optimizer}{star} {c.lr:.3g} · {c.scheduler} · "
                   f"{c.epochs} ep · seed {c.seed}")
        values = [f"{run.accuracy:.3f}", f"<b>{run.macro_f1:.3f}</b>", f"{run.rare_recall():.2f}",
                  " / ".join(f"{run.recall[k]:.2f}" for k in rare)]
        lines.append(f"<tr><td style='{cell}'>{i}</td><td style='{wrap}'>{setting}</td>"
                     + "".join(f"<td style='{cell}'>{v}</td>" for v in values) + "</tr>")
    lines.append("</table>")
    low, high = ONE_CYCLE_MOMENTUM
    star_note = (f" * OneCycleLR cycles this optimizer's momentum (SGD) or β₁ (Adam) {high}→{low}→{high} "
                 "in place of its own." if cycled else "")
    lines.append(f"<div style='font-size:85%;max-width:700px'>rare recall = mean recall of the 3 rarest "
                 f"classes ({', '.join(map(str, rare))}); one validation image of class {rare[-1]} is "
                 f"{1 / max(int(np.sum(runs[0].y_true == rare[-1])), 1):.2f} of its recall. Metrics on the "
                 f"validation split, from scikit-learn.{star_note}</div>")
    return "\n".join(lines)


def describe_comparison(runs, reference: str = "ce",
                        metrics=("rare_recall", "macro_f1", "accuracy")) -> list[str]:
    """Sentences that state what the runs' own numbers show (nothing is assumed).

    Runs of one seed (:func:`compare_losses`): the best loss by macro-F1 and by accuracy, the rare-class
    recall of each, each loss against ``reference`` ("rises 0.52 → 0.74"), and how much one validation
    image weighs in the rarest class's recall — one seed is no verdict. Runs of several seeds
    (:func:`compare_over_seeds`): each loss against ``reference`` on the same seeds, per metric of
    ``metrics`` (keys of :data:`COMPARED_METRICS`): higher / lower on every seed, or mixed, with the
    per-seed differences, and how often equally good losses would agree on every seed by chance.
    """
    if not runs:
        return []
    for metric in metrics:
        check_choice("metrics", metric, COMPARED_METRICS)
    if len({r.config.seed for r in runs}) > 1:
        return _describe_seeds(runs, reference, metrics)
    name = {id(r): LOSSES[r.config.loss] for r in runs}

    def highest(metric):  # every run that ties for the top at the printed precision
        top = max(round(getattr(r, metric), 3) for r in runs)
        return f"{' and '.join(name[id(r)] for r in runs if round(getattr(r, metric), 3) == top)} ({top:.3f})"

    rare = runs[0].rare_classes()
    lines = [f"Highest macro-F1: {highest('macro_f1')}; highest accuracy: {highest('accuracy')}.",
             f"Mean recall of the rarest classes {rare.tolist()}: "
             + ", ".join(f"{name[id(r)]} {r.rare_recall():.2f}" for r in runs) + "."]
    ref = next((r for r in runs if r.config.loss == reference), None)
    if ref is not None:
        for r in runs:
            if r is ref:
                continue
            digits = {m: 2 if m == "rare_recall" else 3 for m in metrics}  # as the table prints them
            changes = (f"{COMPARED_METRICS[m][0]} {_change(ref.metric(m), r.metric(m), digits[m])}"
                       for m in metrics)
            lines.append(f"{name[id(r)]} vs {name[id(ref)]}: {', '.join(changes)}.")
    gaps = [r.accuracy - r.macro_f1 for r in runs]
    lines.append("Accuracy − macro-F1: "
                 + ", ".join(f"{name[id(r)]} {g:+.3f}" for r, g in zip(runs, gaps)) + ".")
    lines.append(f"One seed only: {_one_image(runs[0])}; compare over several seeds before reading a "
                 "verdict into these differences.")
    return lines


def _one_image(run) -> str:
    """How far one validation image moves the rare-class recall (the mean recall of the rarest classes)."""
    rare = run.rare_classes()
    n = [int(np.sum(run.y_true == c)) for c in rare]
    steps = [1 / (max(k, 1) * len(rare)) for k in n]
    return (f"one validation image moves the rare-class recall by {min(steps):.3f}–{max(steps):.3f} "
            f"(classes {', '.join(map(str, rare))} have {', '.join(map(str, n))} images)")


def _describe_seeds(runs, reference: str, metrics) -> list[str]:
    """The several-seed sentences of :func:`describe_comparison`."""
    by_loss: dict[str, dict[int, RunResult]] = {}
    for r in runs:
        by_loss.setdefault(r.config.loss, {})[r.config.seed] = r
    if reference not in by_loss:
        return []
    seeds = sorted(by_loss[reference])
    lines = [f"Seeds {seeds}, each with its own split and initialisation; every loss against "
             f"{LOSSES[reference]} on the same seed (differences at 3 decimals):"]
    for loss, per_seed in by_loss.items():
        if loss == reference or sorted(per_seed) != seeds:
            continue
        for m in metrics:
            label, better = COMPARED_METRICS[m]
            diffs = np.round([per_seed[s].metric(m) - by_loss[reference][s].metric(m) for s in seeds], 3)
            lines.append(f"{LOSSES[loss]} vs {LOSSES[reference]}: {label} {_verdict(diffs)} "
                         f"({', '.join(f'{d:+.3f}' for d in diffs)}; {better} is better).")
    n = len(seeds)
    lines.append(f"With {n} seeds, two equally good losses still land on the same side on every seed "
                 f"with probability 2·0.5^{n} = {2 * 0.5**n:.2g} (a sign test): read 'on every seed' "
                 f"together with the sizes above — {_one_image(runs[0])}.")
    return lines


def _verdict(diffs) -> str:
    """'higher on every seed' / 'lower on every seed' / 'equal on every seed' / 'mixed: ...'."""
    counts = {"higher": np.sum(diffs > 0), "lower": np.sum(diffs < 0), "equal": np.sum(diffs == 0)}
    for word, n in counts.items():
        if n == len(diffs):
            return f"{word} on every seed"
    return "mixed: " + ", ".join(f"{word} on {n} seed{'s' if n > 1 else ''}"
                                 for word, n in counts.items() if n)


def _change(before: float, after: float, digits: int = 2) -> str:
    """'rises 0.52 → 0.74' / 'falls ...' / 'stays at ...' (compared at the printed precision)."""
    a, b = round(before, digits), round(after, digits)
    if a == b:
        return f"stays at {a:.{digits}f}"
    return f"{'rises' if b > a else 'falls'} {a:.{digits}f} → {b:.{digits}f}"
