"""Grade a realistic class of hw1 submissions and report throughput and memory (not part of the test suite).

    python benchmarks/grading_class.py                      # 300 submissions, -j 2
    python benchmarks/grading_class.py --count 40 --jobs 2  # a quick look

The class is made from the real homework, seeded: solved, blank, partly wrong (the mistakes of
tests/test_homework.py), crashing, looping, and tampering submissions. It prints (and writes to
``--out``/benchmark.json) the wall time, submissions per minute, the CPU seconds per submission, the grader's
and one kernel's peak memory, the machine's load, and the extrapolation to a 16-core machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import grading  # noqa: E402

WRONG = {  # plausible mistakes, one per exercise
    "hw1_ex1_answer": "def sigmoid_grad(x):\n    return torch.exp(-x) / (1 + torch.exp(-x)) ** 2\n",
    "hw1_ex2_answer": "def softmax_ce_grad(logits, target):\n"
                      "    return torch.softmax(logits, 1) - F.one_hot(target, logits.shape[1]).float()\n",
    "hw1_ex3_answer": "def mlp_backward(x, y, W1, b1, W2, b2):\n    h_pre = x @ W1.T + b1\n"
                      "    h = h_pre.clamp(min=0)\n    out = h @ W2.T + b2\n"
                      "    d_out = 2 * (out - y) / out.shape[0]\n"
                      "    d_pre = (d_out @ W2) * (h_pre > 0).float()\n"
                      "    return d_pre.T @ x, d_pre.sum(0), d_out.T @ h, d_out.sum(0)\n",
    "hw1_ex4_answer": "def numerical_grad(f, x, eps=1e-6):\n    g = torch.zeros(x.numel(), dtype=x.dtype)\n"
                      "    for i in range(x.numel()):\n        s = torch.zeros(x.numel(), dtype=x.dtype)\n"
                      "        s[i] = eps\n        g[i] = (f(x + s.reshape(x.shape)) - f(x)) / eps\n"
                      "    return g.reshape(x.shape)\n",
}
CRASH = ["import os\nos._exit(1)\n", "raise ValueError('oops')\n", "import sys\nsys.exit(0)\n",
         "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"]
LOOP = ["while True:\n    pass\n", "import time\ntime.sleep(3600)\n"]
TAMPER = ["torch.testing.assert_close = lambda *a, **k: None\n",
          "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'] "
          "if any('course.grading.check' in l for l in lines) else lines)\n",
          "import builtins\nbuiltins.isinstance = lambda *a: True\n"]
MIX = {"solved": 0.40, "blank": 0.12, "partly wrong": 0.25, "crashing": 0.08, "looping": 0.07,
       "tampering": 0.08}


def _cell(nb, gid):
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def _src(c):
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def make_class(folder: Path, release_dir: Path, count: int, seed: int = 0) -> Counter:
    """``count`` submissions in ``folder``; returns how many of each kind."""
    rng = random.Random(seed)
    sol = json.loads((ROOT / "homework" / "source" / "hw1_autograd.ipynb").read_text(encoding="utf-8"))
    blank = json.loads((release_dir / "hw1_autograd.ipynb").read_text(encoding="utf-8"))
    kinds = Counter()
    answers = list(WRONG)
    for i in range(count):
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        kinds[kind] += 1
        nb = copy.deepcopy(blank if kind == "blank" else sol)
        if kind == "partly wrong":
            for gid in rng.sample(answers, rng.randint(1, 3)):
                _cell(nb, gid)["source"] = WRONG[gid]
        elif kind in ("crashing", "looping", "tampering"):
            gid = rng.choice(answers)
            bad = rng.choice({"crashing": CRASH, "looping": LOOP, "tampering": TAMPER}[kind])
            _cell(nb, gid)["source"] = bad + _src(_cell(nb, gid))
        (folder / f"student_{i:03d}.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return kinds


class Watch(threading.Thread):
    """Sample the grader's descendants twice a second: the largest kernel (resident size) and the CPU time of
    every process (the last sample of each; what a process used in its last half second is missed)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.cpu, self.stop = 0, {}, threading.Event()

    def run(self):
        me = psutil.Process()
        while not self.stop.wait(0.5):
            for proc in me.children(recursive=True):
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        self.cpu[(proc.pid, proc.create_time())] = times.user + times.system
                        if "course_utils.grading.kernel" in " ".join(proc.cmdline()):
                            self.peak = max(self.peak, proc.memory_info().rss)
                except psutil.Error:
                    continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None, help="folder for the class, the report and benchmark.json")
    parser.add_argument("--cell-timeout", type=float, default=10)
    parser.add_argument("--notebook-timeout", type=float, default=120)
    args = parser.parse_args()
    base = Path(args.out or tempfile.mkdtemp(prefix="grading-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    grading.release(ROOT / "homework" / "source", base / "release", base / "keys")
    (base / "class").mkdir(exist_ok=True)
    kinds = make_class(base / "class", base / "release", args.count)
    opts = grading.Options(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout)
    watch = Watch()
    watch.start()
    load_before = os.getloadavg()
    own_before = sum(psutil.Process().cpu_times()[:2])
    start = time.monotonic()
    rows = grading.grade(base / "class", base / "keys" / "hw1_autograd.json", base / "report.csv",
                         jobs=args.jobs, opts=opts,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    wall = time.monotonic() - start
    watch.stop.set()
    busy = sum(watch.cpu.values()) + sum(psutil.Process().cpu_times()[:2]) - own_before
    students = {r[0] for r in rows}
    per_minute = len(students) / wall * 60
    grader_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kernel_peak = watch.peak / 2**20
    cores = psutil.cpu_count()
    result = {
        "submissions": len(students), "mix": dict(kinds), "jobs": args.jobs, "cores": cores,
        "wall_s": round(wall, 1), "per_minute": round(per_minute, 2),
        "wall_s_per_submission": round(wall / len(students), 2),
        "cpu_s_per_submission": round(busy / len(students), 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "grader_peak_mb": round(grader_peak), "kernel_peak_mb": round(kernel_peak),
        "statuses": dict(Counter(r[4] for r in rows)),
        "extrapolated_16_cores_per_minute": round(16 * 60 / (busy / len(students)), 1),
        "extrapolated_16_cores_memory_gb": round((16 * kernel_peak * 1.5 + grader_peak) / 1024, 1),
    }
    (base / "benchmark.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))
    print(f"(class, report and benchmark.json in {base})")


if __name__ == "__main__":
    main()
