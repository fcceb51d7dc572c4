"""The homework notebooks themselves: clean, self-contained, with explicit-tolerance checks.

(They run under nbval with the rest of the suite: ``homework/source`` is in pytest's testpaths. The student
versions in ``homework/release`` are not collected: their stubs raise NotImplementedError by design.)
"""

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "homework" / "source").glob("*.ipynb"))
RELEASES = sorted((ROOT / "homework" / "release").glob("*.ipynb"))


def code(nb):
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def calls(text, name):
    """The argument text of every ``name(...)`` call in ``text``."""
    out = []
    for match in re.finditer(re.escape(name) + r"\(", text):
        depth, i = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        out.append(text[match.end(): i - 1])
    return out


@pytest.mark.parametrize("path", SOURCES + RELEASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_clean_and_names_its_assignment(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 5)
    assert nb["metadata"]["kernelspec"] == {"name": "python3", "display_name": "Python 3",
                                            "language": "python"}
    assert nb["metadata"]["course_homework"] == {"assignment": path.stem}
    assert "widgets" not in nb["metadata"]
    for i, cell in enumerate(nb["cells"]):
        assert cell.get("id"), f"cell {i} has no id"
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"cell {i} has outputs"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_checks_use_explicit_tolerances_and_name_the_exercise(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    n = 0
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        n += 1
        src = "".join(cell["source"])
        assert src.startswith(f"# Check exercise {n}:"), f"check {meta['grade_id']} must say which exercise"
        assert "print(" not in src, "check cells print nothing"
        found = calls(src, "assert_close") + calls(src, "assert_allclose")
        assert found, f"{meta['grade_id']}: compare with torch.testing.assert_close / numpy assert_allclose"
        for args in found:
            assert "rtol=" in args and "atol=" in args, f"{meta['grade_id']}: tolerances: {args[:80]}"
            assert f"Exercise {n}" in args, f"{meta['grade_id']}: the message must name Exercise {n}"
        for msg in re.findall(r"^assert .*", src, flags=re.MULTILINE):
            assert "," in msg, f"{meta['grade_id']}: every assert needs a message: {msg}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_homework_is_self_contained(path):
    """Only ``course_utils.set_seed`` from the course package: the topic modules may change under it."""
    text = "\n".join(code(json.loads(path.read_text(encoding="utf-8"))))
    imports = re.findall(r"^\s*(?:from|import)\s+(course_utils\S*)(.*)$", text, flags=re.MULTILINE)
    assert imports == [("course_utils", " import set_seed")], imports
    assert "set_seed(0)" in text


def test_release_is_not_collected_and_keys_are_not_committed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    testpaths = config["tool"]["pytest"]["ini_options"]["testpaths"]
    assert "homework/source" in testpaths
    assert not any(p in ("homework", "homework/release") for p in testpaths)
    assert "keys/" in (ROOT / "homework" / ".gitignore").read_text().split()
    # committed files only: the release and translation commands write keys into the ignored homework/keys/
    listed = subprocess.run(["git", "ls-files", "homework"], cwd=ROOT, capture_output=True, text=True)
    paths = ([ROOT / p for p in listed.stdout.split()] if listed.returncode == 0
             else list((ROOT / "homework").rglob("*")))
    for path in paths:
        if path.suffix in (".json", ".ipynb", ".md") and path.is_file():
            assert "course-homework-key" not in path.read_text(encoding="utf-8"), f"a grading key: {path}"


# Plausible wrong answers, and the words the check must answer them with.
MISTAKES = [
    ("hw1_autograd", "hw1_ex1", "def sigmoid_grad(x):\n    return torch.exp(-x) / (1 + torch.exp(-x)) ** 2\n",
     "inf/nan for large |x|"),
    ("hw1_autograd", "hw1_ex2",
     "def softmax_ce_grad(logits, target):\n"
     "    return torch.softmax(logits, 1) - F.one_hot(target, logits.shape[1]).float()\n",
     "did you divide by the batch size"),
    ("hw1_autograd", "hw1_ex3",
     "def mlp_backward(x, y, W1, b1, W2, b2):\n"
     "    h_pre = x @ W1.T + b1\n    h = h_pre.clamp(min=0)\n    out = h @ W2.T + b2\n"
     "    d_out = 2 * (out - y) / out.shape[0]\n    d_pre = (d_out @ W2) * (h_pre > 0).float()\n"
     "    return d_pre.T @ x, d_pre.sum(0), d_out.T @ h, d_out.sum(0)\n",
     "Exercise 3: dW1 differs from autograd"),
    ("hw1_autograd", "hw1_ex4",
     "def numerical_grad(f, x, eps=1e-6):\n    g = torch.zeros(x.numel(), dtype=x.dtype)\n"
     "    for i in range(x.numel()):\n        s = torch.zeros(x.numel(), dtype=x.dtype)\n        s[i] = eps\n"
     "        g[i] = (f(x + s.reshape(x.shape)) - f(x)) / eps\n    return g.reshape(x.shape)\n",
     "far from autograd's gradient"),
    ("hw2_losses", "hw2_ex1",
     "def focal_loss(logits, target, gamma=2.0):\n"
     "    p = torch.softmax(logits, 1).gather(1, target[:, None]).squeeze(1).detach()\n"
     "    return (-(1 - p) ** gamma * torch.log(p)).mean()\n",
     "must stay differentiable"),
    ("hw2_losses", "hw2_ex2",
     "def binary_focal_loss(logits, target, gamma=2.0, alpha=0.25):\n"
     "    ce = F.binary_cross_entropy_with_logits(logits, target, reduction='none')\n"
     "    p_t = torch.where(target == 1, torch.sigmoid(logits), 1 - torch.sigmoid(logits))\n"
     "    return (torch.where(target == 1, 1 - alpha, alpha) * (1 - p_t) ** gamma * ce).mean()\n",
     "0.25 * 0.25 * ln 2"),
    ("hw2_losses", "hw2_ex3",
     "def smooth_targets(target, num_classes, eps):\n    oh = F.one_hot(target, num_classes).float()\n"
     "    return (1 - eps) * oh + eps / (num_classes - 1) * (1 - oh)\n",
     "the true class gets 1 - 0.2 + 0.2/4 = 0.85"),
    ("hw2_losses", "hw2_ex4", "def bootcamp_eps_to_torch(eps, num_classes):\n    return eps\n",
     "label_smoothing=0.125"),
    ("hw2_losses", "hw2_ex5",
     "def weighted_mean(per_sample_loss, target, weight):\n"
     "    return (weight[target] * per_sample_loss).mean()\n",
     "not by N"),
    ("hw3_optimizers", "hw3_ex1",
     "def sgd_momentum_step(param, grad, buf, lr, momentum, weight_decay=0.0):\n"
     "    buf = grad if buf is None else momentum * buf + grad\n"
     "    return param - lr * buf - lr * weight_decay * param, buf\n",
     "differ from torch.optim.SGD's"),
    ("hw3_optimizers", "hw3_ex2",
     "def adamw_step(param, grad, m, v, step, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):\n"
     "    grad = grad + weight_decay * param\n    m = betas[0] * m + (1 - betas[0]) * grad\n"
     "    v = betas[1] * v + (1 - betas[1]) * grad**2\n"
     "    m_hat, v_hat = m / (1 - betas[0] ** step), v / (1 - betas[1] ** step)\n"
     "    return param - lr * m_hat / (v_hat.sqrt() + eps), m, v\n",
     "differ from torch.optim.AdamW's"),
    ("hw3_optimizers", "hw3_ex3",
     "def cosine_lr(step, base_lr, t_max, eta_min=0.0):\n    step = min(step, t_max)\n"
     "    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * step / t_max)) / 2\n",
     "after t_max it climbs back up"),
    ("hw3_optimizers", "hw3_ex4",
     "def warmup_cosine_lr(step, base_lr, warmup_steps, total_steps, start_factor=0.1, eta_min=0.0):\n"
     "    if step < warmup_steps:\n        return base_lr * (step + 1) / warmup_steps\n"
     "    return cosine_lr(step - warmup_steps, base_lr, total_steps - warmup_steps, eta_min)\n",
     "SequentialLR(LinearLR, CosineAnnealingLR)"),
    ("hw4_metrics", "hw4_ex1",
     "def macro_f1(y_true, y_pred, num_classes):\n    s = []\n    for k in np.unique(y_true):\n"
     "        tp = np.sum((y_true == k) & (y_pred == k))\n"
     "        s.append(2 * tp / (np.sum(y_true == k) + np.sum(y_pred == k)))\n    return float(np.mean(s))\n",
     "(0.5 + 0.8 + 0 + 0) / 4 = 0.325"),
    ("hw4_metrics", "hw4_ex2",
     "def average_precision(y_true, scores):\n    hits = y_true[np.argsort(-scores)] == 1\n"
     "    return float((np.cumsum(hits) / np.arange(1, len(hits) + 1)).mean())\n",
     "AP = (1/1 + 2/3) / 2"),
    ("hw4_metrics", "hw4_ex3",
     "def ndcg_at_k(relevance, scores, k):\n    d = 1 / np.log2(np.arange(2, k + 2))\n"
     "    gain = 2.0 ** np.asarray(relevance) - 1\n"
     "    ideal = np.sum(np.sort(gain)[::-1][:k] * d[: min(k, len(gain))])\n"
     "    return float(np.sum(gain[np.argsort(-scores)][:k] * d[: min(k, len(gain))]) / ideal)\n",
     "the hand-worked nDCG@2"),
    ("hw4_metrics", "hw4_ex4",
     "def mean_reciprocal_rank(relevance, scores):\n    r = []\n"
     "    for rel, sc in zip(relevance, scores, strict=True):\n"
     "        hits = np.flatnonzero(rel[np.argsort(-sc)] > 0)\n"
     "        if len(hits):\n            r.append(1.0 / (hits[0] + 1))\n    return float(np.mean(r))\n",
     "the hand-worked MRR"),
]


@pytest.mark.parametrize("name, exercise, wrong, words", MISTAKES, ids=[m[1] for m in MISTAKES])
def test_checks_reject_plausible_mistakes_in_actionable_words(monkeypatch, name, exercise, wrong, words):
    """Run the instructor notebook with one answer replaced by a classic mistake: its check must fail and
    say why; every cell before it must still pass."""
    import numpy as np
    import torch

    import course_utils

    # seed without course_utils.set_seed's global switch to deterministic algorithms in this process
    monkeypatch.setattr(course_utils, "set_seed",
                        lambda seed=0: (torch.manual_seed(seed), np.random.seed(seed)))
    nb = json.loads((ROOT / "homework" / "source" / f"{name}.ipynb").read_text(encoding="utf-8"))
    namespace = {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        src = wrong if grade_id == f"{exercise}_answer" else "".join(cell["source"])
        if grade_id != exercise:
            exec(compile(src, str(grade_id), "exec"), namespace)
            continue
        with pytest.raises(AssertionError) as err:
            exec(compile(src, grade_id, "exec"), namespace)
        message = str(err.value)
        assert words in message and message.startswith(f"Exercise {exercise[-1]}"), message
        return
    raise AssertionError(f"{exercise} not found")
