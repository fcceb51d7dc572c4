"""The guard inside a grading kernel (course_utils.grading.guard, checkthread, snapshot), without a kernel.

The attacks run in one child Python process (an audit hook cannot be removed once added, so the guard is never
installed in the test process itself): the guard is installed there as the kernel installs it, the key's own
cells run, and each scenario defines the student's functions, then asks for a check the way a check cell does
and reads the signed verdict. Expected outcomes are written out by hand.
"""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from course_utils.grading import checkthread, guard, snapshot

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "homework" / "source"


# ----------------------------------------------------------------------------------------- pure parts

@pytest.mark.parametrize("fn", checkthread.GUARDED, ids=lambda f: f.__qualname__)
def test_code_that_runs_after_student_code_reads_no_global_name(fn):
    """A submission can rebind any module attribute or builtin; this code must not look one up."""
    assert guard._is_guarded(fn) == []


def test_the_guarded_check_is_not_vacuous():
    def reads_a_global():
        return len([])

    assert guard._is_guarded(reads_a_global) == ["len"]


def test_a_verdict_is_accepted_only_with_the_runs_key():
    key, other = b"k" * 32, b"o" * 32
    body = '{"seq": 1, "check": "hw1_ex1", "status": "passed"}'
    line = f"{guard.MARKER} {body} {guard.sign(key, body)}"
    assert guard.parse_verdict(line, key) == {"seq": 1, "check": "hw1_ex1", "status": "passed"}
    assert guard.parse_verdict(line, other) is None
    assert guard.parse_verdict(line.replace("passed", "failed"), key) is None  # body changed after signing
    assert guard.parse_verdict(f"{guard.MARKER} {body} {'0' * 64}", key) is None
    forged = body.replace("passed", "unknown")
    assert guard.parse_verdict(f"{guard.MARKER} {forged} {guard.sign(key, forged)}", key) is None
    assert guard.parse_verdict("print('passed')", key) is None


def test_check_cell_keeps_the_title_and_runs_through_the_audit_hook():
    cell = guard.check_cell("hw1_ex3", "# Check exercise 3: mlp_backward (3 points).\nx = 1\n")
    assert cell.splitlines() == ["# Check exercise 3: mlp_backward (3 points).",
                                 '__import__("sys").audit("course.grading.check", "hw1_ex3")  # run by the '
                                 "grader's check thread"]


def test_reads_and_chains_of_a_check():
    src = ("from sklearn.metrics import f1_score\nx = torch.ones(2)\ngot = sigmoid_grad(x)\n"
           "torch.testing.assert_close(got, x, msg=lambda m: m)\nfor i in range(2):\n    np.testing.x(i)\n")
    reads, chains = guard._reads_and_chains(src)
    assert reads == ("np", "range", "sigmoid_grad", "torch")
    assert set(chains) == {("torch", "ones"), ("torch", "testing"), ("torch", "testing", "assert_close"),
                           ("np", "testing"), ("np", "testing", "x")}


def test_snapshot_restores_module_class_function_and_registry_changes():
    mod = types.ModuleType("course_grading_fake_mod")

    class Pair:
        def compare(self):
            return "genuine"

    def helper(a, b=2, *, c=3):
        return a + b + c

    Pair.__module__ = mod.__name__
    mod.Pair, mod.helper, mod._global_hooks, mod.flag = Pair, helper, {}, 1
    sys.modules[mod.__name__] = mod
    try:
        state = snapshot.subset(snapshot.take(), [mod.__name__])
        assert snapshot.compare(state) == []
        mod.helper = print
        Pair.compare = lambda self: "fake"
        helper.__defaults__ = (0,)
        helper.__kwdefaults__["c"] = 0
        mod._global_hooks[1] = print
        mod.len = len  # a builtin's name, shadowing it for the module's code
        mod.extra = 5  # a new attribute of another name is not a change (libraries grow them lazily)
        assert sorted(snapshot.compare(state, restore=True)) == sorted([
            "course_grading_fake_mod.helper", "course_grading_fake_mod.Pair.compare",
            "course_grading_fake_mod.helper.__defaults__", "course_grading_fake_mod.helper.__kwdefaults__",
            "course_grading_fake_mod._global_hooks (entries added or removed)",
            "course_grading_fake_mod.len (added)"])
        assert mod.helper is helper and Pair().compare() == "genuine" and helper(1) == 6
        assert mod._global_hooks == {} and not hasattr(mod, "len") and mod.extra == 5
        assert snapshot.compare(state) == []
        frozen = snapshot.frozen(state)
        with pytest.raises(TypeError):
            frozen["modules"] = ()
        sys.modules[mod.__name__] = types.ModuleType("impostor")
        assert snapshot.compare(frozen) == ["sys.modules['course_grading_fake_mod']"]
    finally:
        sys.modules.pop(mod.__name__, None)


# ----------------------------------------------------------------------------------------- attacks

SCENARIOS = r'''
import io, json, os, sys
from course_utils.grading import guard

nb = json.loads(open(sys.argv[1], encoding="utf-8").read())
cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"]) for c in nb["cells"]
         if c["cell_type"] == "code"}
checks = {g: s for g, s in cells.items() if g and not g.endswith("_answer") and g != "hw1_setup"}
key = guard.new_key()
ns, out = {"__name__": "__main__"}, io.StringIO()
guard.install(guard.guard_config(key, checks, [cells["hw1_setup"]]), ns, out)
exec(cells["hw1_setup"], ns)
report = {}

def check(name, gid, code):
    exec(code, ns)
    out.seek(0)
    out.truncate()
    try:
        sys.audit("course.grading.check", gid)
        raised = None
    except BaseException as err:
        raised = type(err).__name__
    verdicts = [guard.parse_verdict(line, key) for line in out.getvalue().splitlines()]
    report[name] = {"raised": raised, "verdicts": verdicts}

SOLUTION_1 = "def sigmoid_grad(x):\n    s = torch.sigmoid(x)\n    return s * (1 - s)\n"
WRONG_1 = "def sigmoid_grad(x):\n    return x * 0 + 0.25\n"
check("solution", "hw1_ex1", SOLUTION_1)
check("patched_before", "hw1_ex1", "import numpy\ntorch.testing.assert_close = lambda *a, **k: None\n"
      "numpy.testing.assert_allclose = lambda *a, **k: None\n" + WRONG_1)
check("patched_during", "hw1_ex1", "def sigmoid_grad(x):\n"
      "    torch.testing.assert_close = lambda *a, **k: None\n    return x * 0\n")
check("self_restoring", "hw1_ex1", "def sigmoid_grad(x):\n    real = torch.testing.assert_close\n"
      "    def fake(*a, **k):\n        torch.testing.assert_close = real\n"
      "    torch.testing.assert_close = fake\n    return x * 0\n")
check("subclass", "hw1_ex1", "class Liar(torch.Tensor):\n    @classmethod\n"
      "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
      "        return torch.tensor(True)\n"
      "def sigmoid_grad(x):\n    return (x * 0).as_subclass(Liar)\n")
check("builtins_and_modules", "hw1_ex1", "import builtins, sys, types\n"
      "builtins.isinstance = lambda *a: True\n"
      "fake = types.ModuleType('torch.testing')\nfake.assert_close = lambda *a, **k: None\n"
      "sys.modules['torch.testing'] = fake\ntorch.Tensor.__eq__ = lambda *a: True\n" + WRONG_1)
check("code_swap", "hw1_ex1",
      "torch.testing.assert_close.__code__ = (lambda *a, **k: None).__code__\n" + WRONG_1)
check("guard_patched", "hw1_ex1",
      "import course_utils.grading.checkthread as ct, course_utils.grading.snapshot as sn\n"
      "ct._run_check = lambda *a, **k: ('passed', '', '', [], [])\n"
      "sn.compare = lambda *a, **k: []\n" + WRONG_1)
try:
    from course_utils.grading import checkthread
    checkthread.worker.__code__ = (lambda: None).__code__
    report["code_of_guard_changed"] = True
except PermissionError:
    report["code_of_guard_changed"] = False
check("check_globals", "hw1_ex4", "def numerical_grad(f, x, eps=1e-6):\n"
      "    f.__globals__['torch'] = None\n    return x * 0\n")
check("probes", "hw1_ex1", r"""
import ctypes, gc, os, sys
ESCAPES = []
def _try(name, fn):
    try:
        fn()
        ESCAPES.append(name)
    except BaseException:
        pass
def sigmoid_grad(x):
    _try("sys._getframe", lambda: sys._getframe(0))
    def tb_frame():
        try:
            raise ValueError
        except ValueError as err:
            return err.__traceback__.tb_frame
    _try("tb_frame", tb_frame)
    _try("gc.get_objects", gc.get_objects)
    _try("sys._current_frames", sys._current_frames)
    _try("ctypes symbol", lambda: ctypes.pythonapi.PyEval_GetFrame)
    _try("/proc/self/mem", lambda: open("/proc/self/mem", "rb"))
    _try("/proc/self/environ", lambda: open("/proc/self/environ", "rb"))
    _try("sys.settrace", lambda: sys.settrace(None))
    _try("os.fork", os.fork)
    _try("socket", lambda: __import__("socket").create_connection(("127.0.0.1", 9), timeout=1))
    s = torch.sigmoid(x)
    return s * (1 - s)
""")
report["escapes"] = ns["ESCAPES"]
check("thread", "hw1_ex1", "import threading, time\n"
      "def sigmoid_grad(x):\n    threading.Thread(target=time.sleep, args=(3,), daemon=True).start()\n"
      "    s = torch.sigmoid(x)\n    return s * (1 - s)\n")
import time; time.sleep(3.5)
check("after_thread", "hw1_ex1", SOLUTION_1)
check("signal_handler", "hw1_ex1",
      "import signal\nsignal.signal(signal.SIGALRM, lambda *a: print('frame', a[1]))\n"
      "signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)\n" + SOLUTION_1)
print(json.dumps(report))
'''


@pytest.fixture(scope="module")
def attacks(tmp_path_factory):
    script = tmp_path_factory.mktemp("guard") / "scenarios.py"
    script.write_text(SCENARIOS, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script), str(SOURCE / "hw1_autograd.ipynb")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def verdict(attacks, name):
    found = attacks[name]["verdicts"]
    assert len(found) == 1 and found[0] is not None, attacks[name]
    return found[0]


def test_a_correct_answer_passes_with_a_signed_verdict(attacks):
    v = verdict(attacks, "solution")
    assert (v["status"], v["check"], v["restored"], v["tampered"]) == ("passed", "hw1_ex1", [], [])
    assert attacks["solution"]["raised"] is None
    assert verdict(attacks, "after_thread")["status"] == "passed"


def test_a_change_made_before_the_check_is_undone_and_the_check_runs_genuinely(attacks):
    for name, undone in (("patched_before", {"torch.testing.assert_close", "numpy.testing.assert_allclose"}),
                         ("builtins_and_modules", {"builtins.isinstance", "sys.modules['torch.testing']",
                                                   "torch.Tensor.__eq__ (added)"}),
                         ("code_swap", {"assert_close.__code__"})):
        v = verdict(attacks, name)
        assert v["status"] == "failed" and v["message"].startswith("Exercise 1:"), (name, v)
        assert all(any(u in r for r in v["restored"]) for u in undone), (name, v["restored"])


def test_a_change_made_while_the_check_runs_makes_it_tampered(attacks):
    for name, words in (("patched_during", "torch.testing.assert_close"),
                        ("self_restoring", "torch.testing.assert_close"),
                        ("subclass", "is a Liar object"),
                        ("check_globals", "the check's own variables"),
                        ("thread", "a thread it started")):
        v = verdict(attacks, name)
        assert v["status"] == "tampered", (name, v)
        assert any(words in t for t in v["tampered"]), (name, v["tampered"])


def test_patching_the_guard_itself_changes_nothing(attacks):
    v = verdict(attacks, "guard_patched")
    assert v["status"] == "failed" and v["message"].startswith("Exercise 1: sigmoid_grad(x) differs")
    assert attacks["code_of_guard_changed"] is False


def test_no_way_into_the_check_threads_frames_memory_processes_or_network(attacks):
    assert attacks["escapes"] == []
    assert verdict(attacks, "probes")["status"] == "passed"


def test_a_signal_handler_of_the_submission_is_reset_before_the_check(attacks):
    assert verdict(attacks, "signal_handler")["status"] == "passed"
