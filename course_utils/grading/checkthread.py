"""The grader's check thread and audit hook, inside a grading kernel (installed by ``guard.install``).

All of it runs after submission code has had its turn, so all of it is written in the *guarded style* of
``snapshot.py``: no global or builtin name is read at run time (what a function needs is a positional default,
bound when this module is imported, before any submission runs); no method of an object a submission could
have made is called; objects are compared by identity. Objects a submission can reach (the wrapped functions
handed to a check, the check's namespace) hold only immutable data and functions of this module, which the
audit hook does not let anyone change.
"""

from __future__ import annotations

import _thread
import gc
import hashlib
import hmac
import operator
import os
import select
import sys
import time
import types
from json.encoder import encode_basestring_ascii as _quote

from course_utils.grading import snapshot

MARKER = "@@course-grading-verdict@@"
EVENT = "course.grading.check"
MAX_MESSAGE = 2000
PROC_ALLOWED = ("/proc/self/stat", "/proc/self/statm", "/proc/self/status", "/proc/meminfo", "/proc/cpuinfo",
                "/proc/stat", "/proc/self/cgroup", "/proc/self/mountinfo", "/proc/self/maps")
FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
_OBJECTS = "walking the interpreter's objects"
_NATIVE = "native code and raw memory"
_PROCESSES = "starting processes"
_NETWORK = "the network"
VETOED = {
    "gc.get_objects": _OBJECTS, "gc.get_referrers": _OBJECTS, "gc.get_referents": _OBJECTS,
    "sys._current_frames": "reading other threads' frames", "ctypes.dlopen": _NATIVE, "ctypes.dlsym": _NATIVE,
    "ctypes.dlsym/handle": _NATIVE, "ctypes.cdata": _NATIVE, "ctypes.cdata/buffer": _NATIVE,
    "ctypes.string_at": _NATIVE, "ctypes.wstring_at": _NATIVE, "os.fork": _PROCESSES,
    "os.forkpty": _PROCESSES,
    "os.posix_spawn": _PROCESSES, "os.spawn": _PROCESSES, "os.exec": _PROCESSES, "os.system": _PROCESSES,
    "subprocess.Popen": _PROCESSES, "os.startfile": _PROCESSES, "pty.spawn": _PROCESSES,
    "socket.connect": _NETWORK, "socket.bind": _NETWORK, "socket.getaddrinfo": _NETWORK,
    "socket.sendto": _NETWORK, "socket.sendmsg": _NETWORK,
}
VETOED_OFF_MAIN = {"sys._getframe": ValueError, "sys.settrace": PermissionError,
                   "sys.setprofile": PermissionError}
_EXACT = frozenset((bool, int, float, complex, str, bytes, type(None)))


class GuardTripped(Exception):
    """Raised inside a check when the submission changed what the check relies on, or handed it an object
    whose behaviour it wrote (a tensor subclass, a custom autograd function...)."""


def _text(value, limit=MAX_MESSAGE, _str=str, _type=type, _len=len, _BaseException=BaseException):
    """``str(value)`` cut to ``limit`` characters, or a placeholder when that fails."""
    try:
        text = value if _type(value) is _str else _str(value)
    except _BaseException:
        return "<a message that could not be read>"
    if _type(text) is not _str:
        return "<a message that could not be read>"
    return text if _len(text) <= limit else text[:limit] + "..."


def _type_name(obj, _type=type, _get_name=type.__dict__["__name__"].__get__):
    return _get_name(_type(obj))


def _sanitize(value, where, view, _type=type, _len=len, _list=list, _tuple=tuple, _dict=dict, _exact=_EXACT,
              _items=dict.items, _type_name=_type_name, _Tripped=GuardTripped, _getattr=getattr,
              _own_dict=object.__getattribute__, _AttributeError=AttributeError):
    """Raise GuardTripped unless ``value`` is plain data a check can trust: an exact tensor without hooks or
    attributes of its own and without a custom autograd function behind it, an exact numpy array (not of
    Python objects) or scalar, a number, a string, or a tuple/list/dict of those."""
    stack, seen = [(value, 0)], 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        kind = _type(item)
        if kind in _exact or kind in view["scalar_types"] or kind in view["np_scalars"]:
            continue
        if depth > 6 or seen > 1_000_000:
            raise _Tripped(f"{where} is nested too deeply or too large")
        if kind is _list or kind is _tuple:
            stack.extend((x, depth + 1) for x in item)
        elif kind is _dict:
            for k, v in _items(item):
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif kind is view["array_type"]:
            if item.dtype.kind == "O":
                raise _Tripped(f"{where} is an array of Python objects")
        elif kind in view["tensor_types"]:
            try:
                attributes = _own_dict(item, "__dict__")
            except _AttributeError:
                attributes = None
            if attributes:
                raise _Tripped(f"{where} is a tensor with attributes of its own")
            if item._backward_hooks or _getattr(item, "_post_accumulate_grad_hooks", None):
                raise _Tripped(f"{where} is a tensor with a backward hook")
            nodes, count = [item.grad_fn], 0
            while nodes and count < 100_000:
                node = nodes.pop()
                count += 1
                if node is None:
                    continue
                if _type_name(node) == "BackwardCFunction" and node._forward_cls not in view["functions"]:
                    raise _Tripped(f"{where} comes from a custom torch.autograd.Function (its backward would "
                                   "run inside the check)")
                nodes.extend(pair[0] for pair in node.next_functions)
        else:
            raise _Tripped(f"{where} is a {_type_name(item)} object; return a tensor, an array, a number, or "
                           "a list/tuple of them")


def _tensors(value, view, _type=type, _list=list, _tuple=tuple, _dict=dict, _items=dict.items, _len=len):
    """The tensors inside ``value`` (lists, tuples and dicts opened), as a list."""
    found, stack = [], [value]
    while stack and _len(found) < 10_000:
        item = stack.pop()
        kind = _type(item)
        if kind in view["tensor_types"]:
            found.append(item)
        elif kind is _list or kind is _tuple:
            stack.extend(item)
        elif kind is _dict:
            stack.extend(_items(item))
    return found


def _probe(view, _len=len):
    """torch's thread-local switches that would let code run inside every torch call of a check."""
    probes = view["probes"]
    return (probes[0](), probes[1](), probes[2](False)) if _len(probes) == 3 else ()


def _after_call(ctx, before, args, kwargs, result, _compare=snapshot.compare, _same=snapshot._same,
                _count=_thread._count, _gc_disable=gc.disable, _gc_isenabled=gc.isenabled,
                _sanitize=_sanitize,
                _probe=_probe, _Tripped=GuardTripped, _join="; ".join, _tensors=_tensors):
    """What is checked after each call of the submission's code from a check (see ``_call_wrapped``)."""
    name, ns, view, watched = ctx[1], ctx[2], ctx[3], ctx[4]
    problems = _compare(view["focus"])
    if not _same(ns, before[0], before[1]):
        problems.append("the check's own variables")
    for label, d, keys, values in watched:
        if not _same(d, keys, values):
            problems.append(label)
    if _count() > view["threads"]:
        problems.append("a thread it started")
    if _probe(view) != view["probe_values"]:
        problems.append("torch's function / dispatch modes or saved-tensor hooks")
    if _gc_isenabled():
        _gc_disable()
    if problems:
        raise _Tripped(f"while {name}() ran, it changed: {_join(problems[:6])}")
    _sanitize(result, f"the result of {name}()", view)
    _sanitize(_tensors(args, view), f"a tensor passed to {name}()", view)
    _sanitize(_tensors(kwargs, view), f"a tensor passed to {name}()", view)


def _call_wrapped(ctx, *args, **kwargs):
    """What a check calls instead of the submission's function (bound to the tuple ``ctx`` with
    ``types.MethodType``; the helpers it needs are in ``ctx`` too: a keyword default would be a mutable
    dict)."""
    ns, tuple_ = ctx[2], ctx[6]
    before = (tuple_(ns), tuple_(ns.values()))
    result = ctx[0](*args, **kwargs)
    ctx[5](ctx, before, args, kwargs, result)
    return result


def _copy_modules(ns, chains, view, watched, _type=type, _tuple=tuple, _vars=vars, _dict_get=dict.get,
                  _ModuleType=types.ModuleType, _str=str):
    """Replace the genuine modules the check reads (``torch``, ``torch.testing``...) by fresh copies of them,
    so that a submission rebinding ``torch.testing.assert_close`` meanwhile does not reach the check."""
    copies = {}
    for chain in chains:
        holder, key = ns, chain[0]
        for attr in chain[1:] + ("",):
            value = _dict_get(holder, key)
            if _type(value) is not _ModuleType:
                break
            name = _dict_get(_vars(value), "__name__")
            if _type(name) is not _str:
                break
            copy = copies.get(name)
            if copy is not value and view["modules"].get(name) is not value:
                break
            if copy is None:
                copy = _ModuleType(name)
                _vars(copy).update(_vars(value))
                copies[name] = copy
            holder[key] = copy
            holder, key = _vars(copy), attr
    for name, copy in copies.items():
        d = _vars(copy)
        watched.append((f"module {name} as the check sees it", d, _tuple(d), _tuple(d.values())))


def _namespace(gid, plan, own_codes, user_ns, view, _dict=dict, _exec=exec, _type=type, _callable=callable,
               _ModuleType=types.ModuleType, _MethodType=types.MethodType, _call_wrapped=_call_wrapped,
               _after_call=_after_call, _tuple=tuple, _BaseException=BaseException, _sanitize=_sanitize,
               _copy_modules=_copy_modules):
    """The check's globals: genuine builtins, the key's own imports and definitions, copies of the modules
    it reads, and the submission's objects it reads (callables wrapped, data checked)."""
    builtins_copy = _dict(view["builtins"])
    ns = {"__builtins__": builtins_copy, "__name__": "__grader_check__"}
    for code in own_codes:
        try:
            _exec(code, ns)
        except _BaseException:  # noqa: S110 (the check then fails on a NameError, which the report explains)
            pass
    reads, chains = plan[gid]
    watched = [("the check's builtins", builtins_copy, _tuple(builtins_copy), _tuple(builtins_copy.values()))]
    _copy_modules(ns, chains, view, watched)
    tail = (ns, view, _tuple(watched), _after_call, _tuple)
    for name in reads:
        if name in ns or name in builtins_copy or name not in user_ns:
            continue
        value = user_ns[name]
        if _type(value) is _ModuleType:
            continue  # a module of the student's: the check uses the key's own imports
        if _callable(value):
            ns[name] = _MethodType(_call_wrapped, (value, name, *tail))
        else:
            _sanitize(value, name, view)
            ns[name] = value
    return ns


def _same_seq(a, b, _len=len, _all=all, _map=map, _is=operator.is_):
    return _len(a) == _len(b) and _all(_map(_is, a, b))


VIEW_KEYS = ("threads", "probes", "probe_values", "builtins", "tensor_types", "scalar_types", "array_type",
             "np_scalars", "functions")


def _run_check(gid, compiled, plan, own_codes, user_ns, state, env, _compare=snapshot.compare,
               _frozen=snapshot.frozen, _columns=snapshot._columns, _namespace=_namespace, _exec=exec,
               _count=_thread._count,
               _gc_disable=gc.disable, _gc_enable=gc.enable,
               _getrec=sys.getrecursionlimit, _setrec=sys.setrecursionlimit, _callbacks=gc.callbacks,
               _text=_text, _type_name=_type_name, _probe=_probe, _Tripped=GuardTripped,
               _Assertion=AssertionError,
               _BaseException=BaseException, _proxy=types.MappingProxyType, _join="; ".join,
               _same_seq=_same_seq, _view_keys=VIEW_KEYS):
    """Run one check; returns (status, exception name, message, restored, tampered)."""
    restored, tampered = [], []
    if _count() > env["threads"]:
        tampered.append("a thread the submission started was still running")
    restored += _compare(state, True)
    left = _compare(state) if restored else ()
    if left:
        tampered.append("could not be undone: " + _join(left[:4]))
    if _getrec() != env["recursion"]:
        _setrec(env["recursion"])
    env["np_seterr"](**env["np_err"])
    env["np_seterrcall"](env["np_errcall"])
    if env["dtype"] is not None and env["get_dtype"]() is not env["dtype"]:
        env["set_dtype"](env["dtype"])
        restored.append("torch's default dtype")
    if not _same_seq(_callbacks, env["gc_callbacks"]):
        _callbacks[:] = env["gc_callbacks"]
        restored.append("gc.callbacks")
    if _probe(env) != env["probe_values"]:
        tampered.append("torch's function / dispatch modes or saved-tensor hooks in the grader's thread")
    if tampered:
        return "tampered", "", "", restored, tampered
    view = {k: env[k] for k in _view_keys}
    view["focus"] = _frozen(_columns(env["focus_state"]))
    view["modules"] = _proxy(env["modules"])
    view = _proxy(view)
    status, ename, message = "passed", "", ""
    _gc_disable()
    try:
        _exec(compiled[gid], _namespace(gid, plan, own_codes, user_ns, view))
    except _Tripped as err:
        tampered.append(_text(err, 600))
    except _Assertion as err:
        status, ename, message = "failed", "AssertionError", _text(err)
    except _BaseException as err:
        status, ename, message = "error", _type_name(err), _text(err)
    finally:
        _gc_enable()
    changed = _compare(state)
    if changed:
        tampered.append("changed while the check ran: " + _join(changed[:6]))
    if _count() > env["threads"]:
        tampered.append("a thread was started while the check ran")
    return ("tampered" if tampered else status), ename, message, restored, tampered


def _read_line(fd, _read=os.read, _EOF=EOFError, _Interrupt=KeyboardInterrupt):
    """One request line; a late KeyboardInterrupt (meant for a check that had just ended) is ignored."""
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = _read(fd, 4096)
        except _Interrupt:
            continue
        if not chunk:
            raise _EOF
        data += chunk
    return data


def worker(key, state, compiled, plan, own_codes, user_ns, req_r, resp_w, env, _read_line=_read_line,
           _write=os.write, _run_check=_run_check, _quote=_quote, _hmac=hmac.new, _sha256=hashlib.sha256,
           _join=", ".join, _map=map, _BaseException=BaseException, _Interrupt=KeyboardInterrupt, _str=str,
           _len=len, _marker=MARKER, _type_name=_type_name):
    """The check thread: serve requests ``<grade_id> <request id>`` until the kernel exits. For each, write an
    acknowledgement, run the check, and write the verdict line, signed with ``key``. A KeyboardInterrupt (the
    hook's, when a check ran past the cell timeout) ends the check, never the thread."""
    seq = 0
    while True:
        try:
            words = _read_line(req_r).decode("ascii", "replace").split()
        except _Interrupt:
            continue
        except _BaseException:
            return
        if _len(words) != 2:
            continue
        gid, rid = words
        outcome = ("error", "KeyboardInterrupt", "interrupted", [], [])
        try:
            _write(resp_w, ("A " + rid + "\n").encode("ascii"))
            if gid not in compiled:
                outcome = ("error", "KeyError", "no check named " + gid, [], [])
            else:
                outcome = _run_check(gid, compiled, plan, own_codes, user_ns, state, env)
        except _Interrupt:
            pass
        except _BaseException as err:  # the grader's own failure: report it and keep serving
            outcome = ("error", "GraderError", "the grader's check runner failed (" + _type_name(err) + ")",
                       [], [])
        seq += 1
        status, ename, message, restored, tampered = outcome
        body = ('{"seq": ' + _str(seq) + ', "check": ' + _quote(gid) + ', "status": ' + _quote(status)
                + ', "ename": ' + _quote(ename) + ', "message": ' + _quote(message)
                + ', "restored": [' + _join(_map(_quote, restored[:20])) + ']'
                + ', "tampered": [' + _join(_map(_quote, tampered[:20])) + ']}')
        line = ("V " + rid + " " + status + " " + _marker + " " + body + " "
                + _hmac(key, body.encode("ascii"), _sha256).hexdigest() + "\n").encode("ascii")
        while line:
            try:
                line = line[_write(resp_w, line):]
            except _Interrupt:
                continue


def hook(event, args, _main=0, _req_w=-1, _resp_r=-1, _write_out=None, _flush_out=None, _reset=None,
         _interrupt=None, _ours=(), _get_ident=_thread.get_ident, _write=os.write, _select=select.select,
         _read=os.read, _veto=VETOED, _off_main=VETOED_OFF_MAIN, _frame_attrs=FRAME_ATTRS, _event=EVENT,
         _type=type, _str=str, _bytes=bytes, _len=len, _Permission=PermissionError, _Attribute=AttributeError,
         _Runtime=RuntimeError, _Assertion=AssertionError, _Interrupt=KeyboardInterrupt,
         _ns=time.monotonic_ns,
         _proc_ok=PROC_ALLOWED, _FunctionType=types.FunctionType):
    """The grader's audit hook: serves check cells and refuses what would reach the check thread (see
    ``guard.py``). ``make_hook`` binds the defaults that start with ``None``/``-1``/``0``/``()``."""
    if event == _event:
        if _get_ident() != _main or _len(args) != 1 or _type(args[0]) is not _str:
            raise _Runtime("the grader's checks run only from a check cell")
        _reset()
        rid = _str(_ns())
        _write(_req_w, (_str(args[0]) + " " + rid + "\n").encode("ascii", "replace"))
        buffer = b""
        try:
            if not _select([_resp_r], [], [], 5.0)[0]:
                raise _Runtime("course-grading: the check runner is still busy with an earlier check")
            while True:
                while b"\n" not in buffer:
                    chunk = _read(_resp_r, 65536)
                    if not chunk:
                        raise _Runtime("course-grading: the check runner stopped")
                    buffer += chunk
                line, _, buffer = buffer.partition(b"\n")
                parts = line.decode("ascii", "replace").split(" ", 4)
                if _len(parts) == 5 and parts[0] == "V" and parts[1] == rid:
                    break
        except _Interrupt:
            if not _select([_resp_r], [], [], 0)[0]:  # the check is still running: stop it too
                _interrupt()
            raise
        _write_out(parts[3] + " " + parts[4] + "\n")
        _flush_out()
        if parts[2] == "failed":
            raise _Assertion("the check failed: the grader's verdict above says why")
        if parts[2] != "passed":
            raise _Runtime("the check did not pass: the grader's verdict above says why")
        return
    if event in _veto:
        raise _Permission(f"the grader does not allow {_veto[event]} while grading ({event})")
    if event == "open":
        path = args[0]
        if _type(path) is _bytes:
            path = path.decode("utf-8", "replace")
        if _type(path) is _str and path.startswith("/proc") and path not in _proc_ok:
            raise _Permission("the grader does not allow opening files under /proc while grading")
        return
    if event == "object.__setattr__" or event == "object.__delattr__":
        target = args[0]
        if _type(target) is _FunctionType and target.__code__ in _ours:
            raise _Permission("the grader's own functions cannot be changed")
        return
    if _get_ident() == _main:
        return
    if event in _off_main:
        raise _off_main[event]("not available outside the main thread while grading")
    if event == "object.__getattr__" and _len(args) > 1 and args[1] in _frame_attrs:
        raise _Attribute("frames are not available outside the main thread while grading")


def _reset(_handlers=(), _get=None, _set=None, _setitimer=None, _timers=(), _Exception=Exception):
    """Before a check: stop interval timers, put the kernel's signal handlers back (they run in the main
    thread, with a frame; the check thread never runs them)."""
    for timer in _timers:
        _setitimer(timer, 0)
    for sig, handler in _handlers:
        if _get(sig) is not handler:
            try:
                _set(sig, handler)
            except _Exception:  # noqa: S110 (a signal that cannot be set here)
                pass


def _interrupt(_call=None, _ident=0, _exc=KeyboardInterrupt, _sleep=time.sleep):
    """Ctrl-C (a cell timeout) while a check runs: raise KeyboardInterrupt in the check thread too."""
    _call(_ident, _exc)
    _sleep(0.2)


GUARDED = (_text, _type_name, _sanitize, _tensors, _probe, _after_call, _call_wrapped, _copy_modules,
           _namespace, _same_seq, _run_check, _read_line, worker, hook, _reset, _interrupt, snapshot._flat,
           snapshot._cells, snapshot._contents, snapshot._same, snapshot._columns, snapshot.frozen,
           snapshot._unchanged, snapshot._diff, snapshot._functions, snapshot.compare)


def _bind(fn, name, **values):
    """A copy of ``fn`` with some defaults replaced and an empty builtins namespace."""
    code = fn.__code__
    names = code.co_varnames[code.co_argcount - len(fn.__defaults__):code.co_argcount]
    defaults = dict(zip(names, fn.__defaults__, strict=True))
    unknown = set(values) - set(defaults)
    if unknown:
        raise TypeError(f"{fn.__name__} has no defaults named {sorted(unknown)}")
    defaults.update(values)
    return types.FunctionType(code, {"__builtins__": {}}, name, tuple(defaults.values()))


def make_hook(main_ident, worker_ident, req_w, resp_r, stdout):
    """The audit hook for this kernel, with the kernel's own signal handlers and the check thread's id."""
    import ctypes
    import signal

    async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
    handlers = tuple((s, signal.getsignal(s)) for s in signal.valid_signals()
                     if s not in (signal.SIGKILL, signal.SIGSTOP) and signal.getsignal(s) is not None)
    reset = _bind(_reset, "course_grading_reset", _handlers=handlers, _get=signal.getsignal,
                  _set=signal.signal,
                  _setitimer=signal.setitimer,
                  _timers=(signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF))
    interrupt = _bind(_interrupt, "course_grading_interrupt", _call=async_exc, _ident=worker_ident)
    return _bind(hook, "course_grading_audit_hook", _main=main_ident, _req_w=req_w, _resp_r=resp_r,
                 _write_out=stdout.write, _flush_out=stdout.flush, _reset=reset, _interrupt=interrupt,
                 _ours=tuple(f.__code__ for f in GUARDED))
