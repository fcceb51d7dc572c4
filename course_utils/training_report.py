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
from course_utils.i18n import tr
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
        return tr("<i>No runs yet: press Train.</i>")
    rare = runs[0].rare_classes()
    head = ["#", tr("setting"), tr("acc."), "<b>macro-F1</b>", tr("rare recall"),
            tr("recall {classes}", classes=" / ".join(map(str, rare)))]
    cell = "padding:1px 5px;text-align:right;vertical-align:top;white-space:nowrap"
    wrap = "padding:1px 5px;text-align:left;vertical-align:top;white-space:normal;min-width:160px"
    lines = ["<table style='border-collapse:collapse;font-size:90%;max-width:700px'>", "<tr>" + "".join(
        f"<th style='{wrap if k == 1 else cell}'>{h}</th>" for k, h in enumerate(head)) + "</tr>"]
    cycled = False
    names = {key: html.escape(name) for key, name in LOSSES.items()}
    for i, run in enumerate(runs, 1):
        c = run.config
        star = "*" if c.cycled_momentum() else ""
        cycled |= bool(star)
        setting = tr("{loss} · {optimizer}{star} {lr:.3g} · {scheduler} · {epochs} ep · seed {seed}",
                     loss=names[c.loss], optimizer=c.optimizer, star=star, lr=c.lr, scheduler=c.scheduler,
                     epochs=c.epochs, seed=c.seed)
        values = [f"{run.accuracy:.3f}", f"<b>{run.macro_f1:.3f}</b>", f"{run.rare_recall():.2f}",
                  " / ".join(f"{run.recall[k]:.2f}" for k in rare)]
        lines.append(f"<tr><td style='{cell}'>{i}</td><td style='{wrap}'>{setting}</td>"
                     + "".join(f"<td style='{cell}'>{v}</td>" for v in values) + "</tr>")
    lines.append("</table>")
    low, high = ONE_CYCLE_MOMENTUM
    star_note = tr(" * OneCycleLR cycles this optimizer's momentum (SGD) or β₁ (Adam) {high}→{low}→{high} "
                   "in place of its own.", low=low, high=high) if cycled else ""
    note = tr("rare recall = mean recall of the 3 rarest classes ({classes}); one validation image of class "
              "{last} is {share:.2f} of its recall. Metrics on the validation split, from scikit-learn.",
              classes=", ".join(map(str, rare)), last=rare[-1],
              share=1 / max(int(np.sum(runs[0].y_true == rare[-1])), 1))
    lines.append(f"<div style='font-size:85%;max-width:700px'>{note}{star_note}</div>")
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
    losses = dict(LOSSES.items())
    name = {id(r): losses[r.config.loss] for r in runs}
    metric_names = {m: label for m, (label, _) in COMPARED_METRICS.items()}

    def highest(metric):  # every run that ties for the top at the printed precision
        top = max(round(getattr(r, metric), 3) for r in runs)
        tied = tr(" and ").join(name[id(r)] for r in runs if round(getattr(r, metric), 3) == top)
        return f"{tied} ({top:.3f})"

    rare = runs[0].rare_classes()
    lines = [tr("Highest macro-F1: {f1}; highest accuracy: {accuracy}.", f1=highest("macro_f1"),
                accuracy=highest("accuracy")),
             tr("Mean recall of the rarest classes {classes}: {recalls}.", classes=rare.tolist(),
                recalls=", ".join(f"{name[id(r)]} {r.rare_recall():.2f}" for r in runs))]
    ref = next((r for r in runs if r.config.loss == reference), None)
    if ref is not None:
        for r in runs:
            if r is ref:
                continue
            digits = {m: 2 if m == "rare_recall" else 3 for m in metrics}  # as the table prints them
            changes = (f"{metric_names[m]} {_change(ref.metric(m), r.metric(m), digits[m])}" for m in metrics)
            lines.append(tr("{loss} vs {reference}: {changes}.", loss=name[id(r)], reference=name[id(ref)],
                            changes=", ".join(changes)))
    gaps = [r.accuracy - r.macro_f1 for r in runs]
    lines.append(tr("Accuracy − macro-F1: {gaps}.",
                    gaps=", ".join(f"{name[id(r)]} {g:+.3f}" for r, g in zip(runs, gaps))))
    lines.append(tr("One seed only: {one_image}; compare over several seeds before reading a verdict into "
                    "these differences.", one_image=_one_image(runs[0])))
    return lines


def _one_image(run) -> str:
    """How far one validation image moves the rare-class recall (the mean recall of the rarest classes)."""
    rare = run.rare_classes()
    n = [int(np.sum(run.y_true == c)) for c in rare]
    steps = [1 / (max(k, 1) * len(rare)) for k in n]
    return tr("one validation image moves the rare-class recall by {low:.3f}–{high:.3f} (classes {classes} "
              "have {counts} images)", low=min(steps), high=max(steps), classes=", ".join(map(str, rare)),
              counts=", ".join(map(str, n)))


def _describe_seeds(runs, reference: str, metrics) -> list[str]:
    """The several-seed sentences of :func:`describe_comparison`."""
    by_loss: dict[str, dict[int, RunResult]] = {}
    for r in runs:
        by_loss.setdefault(r.config.loss, {})[r.config.seed] = r
    if reference not in by_loss:
        return []
    seeds = sorted(by_loss[reference])
    losses = dict(LOSSES.items())
    lines = [tr("Seeds {seeds}, each with its own split and initialisation; every loss against {reference} "
                "on the same seed (differences at 3 decimals):", seeds=seeds, reference=losses[reference])]
    for loss, per_seed in by_loss.items():
        if loss == reference or sorted(per_seed) != seeds:
            continue
        for m in metrics:
            label, better = COMPARED_METRICS[m]
            diffs = np.round([per_seed[s].metric(m) - by_loss[reference][s].metric(m) for s in seeds], 3)
            fields = {"loss": losses[loss], "reference": losses[reference], "metric": label,
                      "verdict": _verdict(diffs), "diffs": ", ".join(f"{d:+.3f}" for d in diffs)}
            if better == "higher":
                lines.append(tr("{loss} vs {reference}: {metric} {verdict} ({diffs}; higher is better).",
                                **fields))
            else:
                lines.append(tr("{loss} vs {reference}: {metric} {verdict} ({diffs}; lower is better).",
                                **fields))
    n = len(seeds)
    lines.append(tr("With {n} seeds, two equally good losses still land on the same side on every seed "
                    "with probability 2·0.5^{n} = {p:.2g} (a sign test): read 'on every seed' together with "
                    "the sizes above — {one_image}.", n=n, p=2 * 0.5**n, one_image=_one_image(runs[0])))
    return lines


def _verdict(diffs) -> str:
    """'higher on every seed' / 'lower on every seed' / 'equal on every seed' / 'mixed: ...'."""
    counts = {"higher": int(np.sum(diffs > 0)), "lower": int(np.sum(diffs < 0)),
              "equal": int(np.sum(diffs == 0))}
    if counts["higher"] == len(diffs):
        return tr("higher on every seed")
    if counts["lower"] == len(diffs):
        return tr("lower on every seed")
    if counts["equal"] == len(diffs):
        return tr("equal on every seed")
    parts = []
    if counts["higher"]:
        n = counts["higher"]
        parts.append(tr("higher on {n} seeds", n=n) if n > 1 else tr("higher on {n} seed", n=n))
    if counts["lower"]:
        n = counts["lower"]
        parts.append(tr("lower on {n} seeds", n=n) if n > 1 else tr("lower on {n} seed", n=n))
    if counts["equal"]:
        n = counts["equal"]
        parts.append(tr("equal on {n} seeds", n=n) if n > 1 else tr("equal on {n} seed", n=n))
    return tr("mixed: {parts}", parts=", ".join(parts))


def _change(before: float, after: float, digits: int = 2) -> str:
    """'rises 0.52 → 0.74' / 'falls ...' / 'stays at ...' (compared at the printed precision)."""
    a, b = round(before, digits), round(after, digits)
    before, after = f"{a:.{digits}f}", f"{b:.{digits}f}"
    if a == b:
        return tr("stays at {value}", value=before)
    if b > a:
        return tr("rises {before} → {after}", before=before, after=after)
    return tr("falls {before} → {after}", before=before, after=after)
