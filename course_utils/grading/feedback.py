"""Feedback a student can act on: one Markdown file per student (``grade … --feedback DIR``).

Each file lists the student's points per exercise, what the check said (the report's reason, which the grader
built: no hidden test, no path of the grader's machine) and a hint. Hints are keyed to the mistakes the
homework's own tests already know (``tests/test_homework.py``: sum vs mean, the wrong α side, the ε
convention, ...): the first hint whose words appear in the reason, else the exercise's general hint, else one
for the kind of outcome (not answered, too slow, tampered...). The file is plain Markdown, readable offline.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from course_utils.grading.common import fmt_points
from course_utils.i18n import N_, tr

# exercise -> [(words in the check's message, hint)], then the exercise's general hint under "".
HINTS: dict[str, list[tuple[str, str]]] = {
    "hw1_ex1": [("inf/nan", N_("Build it from torch.sigmoid: s = torch.sigmoid(x); s * (1 - s). The form "
                            "exp(-x) / (1 + exp(-x))**2 overflows to inf/inf = nan at x = -100.")),
                ("", N_("sigma'(x) = sigma(x) * (1 - sigma(x)), element by element, same shape and dtype as "
                     "x."))],
    "hw1_ex2": [("batch size", N_("Sum vs mean: F.cross_entropy averages over the batch, so the gradient is "
                               "(softmax - one_hot) / N.")),
                ("", N_("The gradient of the mean cross-entropy is (softmax(z) - one_hot(y)) / N, row by "
                        "row."))],
    "hw1_ex3": [("dW1", N_("F.mse_loss averages over every element: d_out = 2 * (y_hat - y) / y_hat.numel() "
                        "(not / batch size); then back through W2, the ReLU mask [h_pre > 0], and W1.")),
                ("", N_("Go backwards: d_out, then dW2 = d_out.T @ h and db2, then through W2 and the ReLU "
                     "mask, then dW1 = d_pre.T @ x and db1."))],
    "hw1_ex4": [("must not change x", N_("Work on a copy: x + step creates a new tensor; do not write "
                                         "into x.")),
                ("far from", N_("Use central differences: (f(x + eps*e_i) - f(x - eps*e_i)) / (2*eps), "
                                "not the "
                             "forward difference (f(x + eps*e_i) - f(x)) / eps.")),
                ("", N_("Central differences, one coordinate at a time, reshaped like x."))],
    "hw2_ex1": [("differentiable", N_("Keep it a torch expression: no .item(), .detach() or NumPy, or "
                                      "autograd "
                                   "cannot flow through it.")),
                ("gamma = 0", N_("With gamma = 0 the focal loss is plain cross-entropy, averaged over the "
                                 "batch "
                              "(mean, not sum).")),
                ("", N_("FL = (1 - p_t) ** gamma * CE per sample, with p_t = exp(-CE); then the batch "
                        "mean."))],
    "hw2_ex2": [("alpha", N_("The wrong alpha side: alpha multiplies the samples with target 1 (positives), "
                          "1 - alpha the negatives; alpha = 0.25 weights positives less.")),
                ("", N_("p_t = p for target 1 and 1 - p for target 0; alpha_t likewise (alpha, 1 - "
                        "alpha)."))],
    "hw2_ex3": [("0.85", N_("The epsilon convention: torch's label_smoothing gives the true class "
                         "1 - eps + eps/K and every other class eps/K (not eps/(K - 1)).")),
                ("", N_("Soft targets are (1 - eps) * one_hot + eps / K."))],
    "hw2_ex4": [("", N_("The bootcamp spreads eps over the K - 1 other classes, torch over all K: "
                     "eps_torch = eps * K / (K - 1)."))],
    "hw2_ex5": [("not by N", N_("Sum vs mean: F.cross_entropy(weight=w) divides by the sum of the targets' "
                             "weights, not by N.")),
                ("", N_("sum(w[y_i] * loss_i) / sum(w[y_i])."))],
    "hw3_ex1": [("", N_("Weight decay is added to the gradient first (g = grad + wd * p); the momentum "
                        "buffer "
                     "is g on the first step, momentum * buf + g after; then p - lr * buf."))],
    "hw3_ex2": [("", N_("AdamW decays the weights directly (p - lr * wd * p), not through the gradient; the "
                     "bias correction uses the step t counted from 1."))],
    "hw3_ex3": [("climbs back", N_("Do not clamp the step at t_max: CosineAnnealingLR follows the cosine "
                                   "on, so "
                                "the rate climbs back up after t_max.")),
                ("", N_("eta_min + (base_lr - eta_min) * (1 + cos(pi * t / t_max)) / 2."))],
    "hw3_ex4": [("", N_("LinearLR starts at start_factor * base_lr at step 0 and reaches base_lr at "
                     "warmup_steps; the cosine then runs over step - warmup_steps."))],
    "hw4_ex1": [("", N_("Average over all num_classes classes, with F1 = 0 for a class that is absent or "
                        "never "
                     "predicted (sklearn's zero_division=0)."))],
    "hw4_ex2": [("", N_("Average the precision at the rank of each positive only, not at every rank."))],
    "hw4_ex3": [("no relevant", N_("With no relevant item the ideal DCG is 0: return 0, do not divide by "
                                   "it.")),
                ("", N_("Linear gains (the relevance itself, not 2**rel - 1), discount 1 / log2(rank + 1), "
                     "divided by the DCG of the ideal order, both cut at k."))],
    "hw4_ex4": [("", N_("A query without a relevant item counts as 0 in the mean: do not drop it."))],
}
#: The same words in the Korean homework's check messages (homework/locale/ko), where they differ.
KOREAN_WORDS = {
    "batch size": "배치 크기",
    "must not change x": "x를 바꾸면 안 됩니다",
    "far from": "많이 다릅니다",
    "differentiable": "미분 가능한",
    "not by N": "N이 아니라",
    "climbs back": "다시 올라갑니다",
    "no relevant": "관련 있는 항목이 없으면",
}
BY_OUTCOME = [
    ("tampered:", N_("The check must run with the genuine functions: remove code that changes torch, numpy, "
                  "builtins, sys.modules or the check cells, and solve the exercise itself.")),
    ("not answered", N_("Write your code where the cell says # YOUR CODE HERE and delete the raise line.")),
    ("ran longer than", N_("Look for an endless loop or a very slow computation (a Python loop over a large "
                        "tensor?), and run the notebook from the top in a fresh kernel before handing it "
                        "in.")),
    ("missing from your notebook", N_("Keep the released answer cells; put your code back into them.")),
    ("define it", N_("Keep the function's name exactly as released.")),
    ("kernel died", N_("Your code crashed the kernel (memory, exit()): run it on a small input first.")),
    ("printed more than", N_("Do not print inside loops; print a few values at most.")),
    ("ran out of memory", N_("Use smaller tensors, or fewer copies of them.")),
]


#: The report's statuses, as the feedback shows them.
STATUSES = (N_("passed"), N_("failed"), N_("error"), N_("timeout"))


def hint_for(exercise: str, reason: str, status: str) -> str:
    """The hint for one row of the report ('' for a passed exercise)."""
    if status == "passed":
        return ""
    for words, hint in BY_OUTCOME[:1]:
        if reason.startswith(words):
            return hint
    for words, hint in HINTS.get(exercise, []):
        if words and (words in reason or KOREAN_WORDS.get(words, "\0") in reason):
            return hint
    for words, hint in BY_OUTCOME[1:]:
        if words in reason:
            return hint
    return next((hint for words, hint in HINTS.get(exercise, []) if not words),
                N_("Compare your result with the check's message, on the inputs it names."))


def _block(text: str) -> str:
    return "```text\n" + text.replace("`", "'") + "\n```"


def render(student: str, rows, key: dict, *, sandboxed: bool = True) -> str:
    """The Markdown feedback for one student's report rows."""
    total = fmt_points(key["total_points"])
    earned = fmt_points(sum(float(r[2]) for r in rows))
    lines = [tr("# {assignment}: feedback for {student}", assignment=key["assignment"],
                student=_safe_heading(student)), ""]
    if not sandboxed:
        lines += [tr("> Graded without the sandbox (--no-sandbox)."), ""]
    if rows[0][1] == "*":
        return "\n".join(lines + [tr("Your submission could not be graded:"), "", _block(rows[0][5]), "",
                                  tr("Points: 0 / {total}. Fix this and hand in again.", total=total), ""])
    lines += [tr("**Total: {earned} / {total} points**", earned=earned, total=total), "",
              tr("| exercise | points | status |"), "|---|---:|---|"]
    lines += [f"| {r[1]} | {r[2]} / {r[3]} | {tr(r[4])} |" for r in rows]
    for row in rows:
        lines += ["", tr("## {exercise}: {points} / {max_points} points, {status}", exercise=row[1],
                         points=row[2], max_points=row[3], status=tr(row[4])),
                  "", tr("What the check said:"), "", _block(row[5])]
        hint = hint_for(row[1], row[5], row[4])
        if hint:
            lines += ["", tr("**Hint:** {hint}", hint=tr(hint))]
    return "\n".join(lines) + "\n"


def _safe_heading(text: str) -> str:
    return re.sub(r"[^\w .@+-]", "_", text)[:100]


def file_name(student: str) -> str:
    """A safe file name for a student's feedback (letters, digits, ``._-``)."""
    name = re.sub(r"[^\w.-]", "_", student).strip("._")[:100] or "student"
    return f"{name}.md"


def write_all(folder: str | os.PathLike, rows, key: dict, *, sandboxed: bool = True) -> list[Path]:
    """Write one feedback file per student into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list] = {}
    for row in rows:
        by_student.setdefault(row[0], []).append(row)
    written, used = [], set()
    for student in sorted(by_student):
        name = file_name(student)
        while name in used:
            name = name[:-3] + "_.md"
        used.add(name)
        path = folder / name
        path.write_text(render(student, by_student[student], key, sandboxed=sandboxed), encoding="utf-8")
        written.append(path)
    return written
