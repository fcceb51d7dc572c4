"""The grader's guard inside a grading kernel: checks run with the genuine functions, and say so in a way
the submission cannot forge.

A submission runs in the same Python process as the checks, and Python lets it rebind anything:
``torch.testing.assert_close``, ``numpy.testing``, builtins, ``sys.modules``, a class's methods, a function's
``__code__``, IPython's cell execution. So the check cells are not run as cells. ``kernel.py`` calls
``install`` before the kernel executes anything; ``install`` imports what the key's cells import, records the
state of every module the checks rely on (``snapshot.py``), and starts a *check thread* (``checkthread.py``)
that holds the check sources (hidden tests included), that record and a per-run key. Each check cell of the
graded notebook is one line, ``__import__("sys").audit("course.grading.check", "<grade_id>")``: the grader's
audit hook (an audit hook cannot be removed) hands the request to the check thread, which

1. puts back whatever the submission changed in the recorded state (the verdict lists it under ``restored``);
2. runs the check's code in a fresh namespace: genuine builtins, the key's own imports and definitions, fresh
   copies of the modules the check reads, and the submission's functions wrapped so that after each call the
   state, the namespace and the values passed back are checked (an exact ``torch.Tensor``, ``numpy.ndarray``,
   number, list..., not a subclass whose methods the submission wrote);
3. compares the state again after the check: a change made while it ran makes the check ``tampered``;
4. writes a verdict line signed with HMAC-SHA256 under the run's key, which the hook prints as the check
   cell's output. The grader counts a check as passed only on such a line, in that cell's output, with a
   valid signature: a check cell the submission rewrote, skipped or answered itself earns nothing.

The check thread's frames hold the key; the audit hook keeps Python code away from them (no frames outside
the main thread, no ``sys._current_frames``, no ``gc`` object walks, no new ctypes symbols or pointers, no
processes, no network, no ``/proc``), and Python signal handlers, which receive a frame, only ever run in the
main thread. Out of scope: a submission that writes the interpreter's memory directly (with ctypes functions
loaded before the kernel started, or numpy's array interface); the sandbox (``sandbox.py``) still holds it.
"""

from __future__ import annotations

import _thread
import ast
import builtins
import gc
import hashlib
import hmac
import json
import os
import sys
import threading
import types
from contextlib import suppress as contextlib_suppress

from course_utils.grading import checkthread, snapshot
from course_utils.grading.checkthread import EVENT, MARKER

VERDICTS = ("passed", "failed", "error", "tampered")
CHECK_CELL = ('# {title}\n__import__("sys").audit("' + EVENT + '", "{gid}")'
              "  # run by the grader's check thread\n")


# ------------------------------------------------------------------------------------ the grader's side

def new_key() -> bytes:
    return os.urandom(32)


def sign(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).hexdigest()


def parse_verdict(line: str, key: bytes) -> dict | None:
    """The verdict on one output line, or None unless the check thread signed the line with ``key``."""
    line = line.strip()
    if not line.startswith(MARKER + " "):
        return None
    body, _, mac = line[len(MARKER) + 1:].rpartition(" ")
    if not body or not hmac.compare_digest(mac, sign(key, body)):
        return None
    try:
        verdict = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(verdict, dict) or verdict.get("status") not in VERDICTS:
        return None
    return verdict


def check_cell(gid: str, source: str) -> str:
    """The one-line cell the graded notebook holds in place of a check (its first comment line kept)."""
    first = source.lstrip().split("\n", 1)[0]
    title = first.lstrip("# ").strip() if first.startswith("#") else f"Check {gid}"
    return CHECK_CELL.format(title=title.replace("\n", " "), gid=gid)


def guard_config(key: bytes, checks: dict[str, str], own_cells: list[str]) -> dict:
    """What ``install`` needs: the run's key, the check sources by grade_id, the key's own cells."""
    return {"key": key.hex(), "checks": dict(checks), "own": list(own_cells)}


# ------------------------------------------------------------------------------------ install (kernel start)

def _imports(sources) -> list[str]:
    names = []
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
                names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _definitions(sources) -> list:
    """The key's own imports and definitions, compiled (no other statement): they are run again in each
    check's namespace, so the check uses the key's helpers, not names the submission rebound."""
    codes = []
    for i, src in enumerate(sources):
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                                       ast.AsyncFunctionDef, ast.ClassDef))]
        codes.append(compile(ast.Module(body=keep, type_ignores=[]), f"<grader cell {i}>", "exec"))
    return codes


def _reads_and_chains(src: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The global names a check reads without assigning them, and its attribute chains (``torch.testing``)."""
    tree = ast.parse(src)
    loads, stores, chains = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stores.add(node.name)
        elif isinstance(node, ast.alias):
            stores.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            stores.add(node.arg)
        elif isinstance(node, ast.Attribute):
            parts, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                chains.add((inner.id, *reversed(parts)))
    return tuple(sorted(loads - stores)), tuple(sorted(chains))


def _warm_up(own_cells):
    """Run what the checks will run once now, so that the libraries' lazy set-up (imports, flags, patched
    methods) happens before the state is recorded: the key's own cells, the comparison functions passing and
    failing, one step of every torch optimizer and scheduler. Output and warnings are discarded."""
    import contextlib
    import io
    import warnings

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in (_warm_up_own, _warm_up_numpy, _warm_up_torch):
            try:
                step(own_cells)
            except Exception:  # noqa: S112 (what fails here fails again, with its reason, when a cell runs it)
                continue


def _warm_up_own(own_cells):
    exec(compile("\n".join(own_cells), "<grader warm-up>", "exec"), {"__name__": "__warm_up__"})


def _warm_up_numpy(_):
    import numpy as np

    np.testing.assert_allclose([1.0], [1.0], rtol=1e-7, atol=0)
    with contextlib_suppress(AssertionError):
        np.testing.assert_allclose([1.0], [2.0], rtol=1e-7, atol=0, err_msg="x")


def _warm_up_torch(_):
    import torch

    torch.testing.assert_close(torch.ones(2), torch.ones(2), rtol=0, atol=0)
    with contextlib_suppress(AssertionError):
        torch.testing.assert_close(torch.ones(2), torch.zeros(2), rtol=0, atol=0, msg=lambda m: m)
    x = torch.ones(2, requires_grad=True)
    torch.autograd.grad((x * 2).sum(), x)
    for name in dir(torch.optim):
        cls = getattr(torch.optim, name)
        optimizer = torch.optim.Optimizer
        if isinstance(cls, type) and issubclass(cls, optimizer) and cls is not optimizer:
            with contextlib_suppress(Exception):
                p = torch.nn.Parameter(torch.zeros(2))
                p.grad = torch.ones(2)
                opt = cls([p], lr=0.1)
                opt.step(lambda: torch.zeros(())) if name == "LBFGS" else opt.step()
                torch.optim.lr_scheduler.StepLR(opt, 1).step()


def _environment(state) -> dict:
    """Baselines and trusted types the check thread compares against, taken at install."""
    import numpy as np

    env = {"threads": _thread._count() + 1, "recursion": sys.getrecursionlimit(), "np_err": np.geterr(),
           "np_errcall": np.geterrcall(), "np_seterr": np.seterr, "np_seterrcall": np.seterrcall,
           "gc_callbacks": tuple(gc.callbacks), "builtins": tuple(vars(builtins).items()),
           "array_type": np.ndarray,
           "np_scalars": frozenset(t for t in set(np.sctypeDict.values()) if t is not np.object_),
           "tensor_types": (), "scalar_types": (), "probes": (), "probe_values": (), "dtype": None,
           "functions": frozenset(), "modules": {e[0]: e[2] for e in state["modules"]}}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        probes = (torch._C._len_torch_function_stack, torch._C._len_torch_dispatch_stack,
                  torch._C._autograd._top_saved_tensors_default_hooks)
        env.update(tensor_types=(torch.Tensor, torch.nn.Parameter),
                   scalar_types=(torch.dtype, torch.Size, torch.device, torch.layout),
                   probes=probes, probe_values=(probes[0](), probes[1](), probes[2](False)),
                   dtype=torch.get_default_dtype(), get_dtype=torch.get_default_dtype,
                   set_dtype=torch.set_default_dtype,
                   functions=frozenset(e[2] for e in state["classes"]
                                       if issubclass(e[2], torch.autograd.Function)))
    tops = ("torch", "numpy", "math", "sklearn", "scipy", "builtins", "operator", "functools")
    parts = ("testing", "autograd", "functional", "optim", "_tensor", "metrics")
    focus = {e[0] for e in state["modules"] + state["named"]
             if e[0].split(".")[0] in tops and (e[0].count(".") == 0 or any(p in e[0] for p in parts))}
    env["focus_state"] = snapshot.subset(state, focus)
    return env


def install(config: dict, user_ns: dict, stdout) -> None:
    """Start the check thread and the audit hook. Call in the kernel's main thread before any cell runs.
    ``config`` comes from ``guard_config`` (its key is removed from it); ``user_ns`` is the namespace cells
    run in; ``stdout`` the stream a check cell's output goes to."""
    checks, own = config.pop("checks"), config.pop("own")
    for name in dict.fromkeys(["numpy", "numpy.testing", *_imports([*own, *checks.values()])]):
        try:
            __import__(name)
        except Exception:  # noqa: S110 (a module that is missing makes the check fail later, with the reason)
            pass
    _warm_up(own)
    compiled = {gid: compile(src, f"<check {gid}>", "exec") for gid, src in checks.items()}
    plan = {gid: _reads_and_chains(src) for gid, src in checks.items()}
    state = snapshot.take()
    env = _environment(state)
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    args = (bytes.fromhex(config.pop("key")), state, compiled, plan, _definitions(own), user_ns, req_r,
            resp_w, env)
    ident = _thread.start_new_thread(checkthread.worker, args)
    del args
    sys.addaudithook(checkthread.make_hook(threading.main_thread().ident, ident, req_w, resp_r, stdout))


def own_cells_of(plan_cells) -> list[str]:
    """The sources of the key's own cells (setup, helpers) of a plan, in order."""
    return [c.source for c in plan_cells if c.kind in ("locked", "free")]


def _is_guarded(fn) -> list[str]:
    """The global or builtin names ``fn`` (and the code nested in it) reads at run time; [] for guarded
    code."""
    import dis

    found, stack = [], [fn.__code__]
    while stack:
        code = stack.pop()
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        found += [i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")]
    return found
