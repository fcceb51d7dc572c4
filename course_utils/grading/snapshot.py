"""What a check relies on, recorded before any student code runs, and compared (and put back) later.

Runs inside a grading kernel (see ``guard.py``). ``take`` records, for every module loaded at kernel start
except the kernel's own machinery: which object ``sys.modules`` maps its name to, its type, every entry of its
``__dict__``; the ``__dict__`` of each Python class defined there; the code, defaults, keyword defaults and
closure of each Python function found there; the contents of module-level hook registries
(``_global_optimizer_pre_hooks`` and the like); and the entries of ``sys`` and ``builtins`` (less the ones the
kernel changes itself). ``compare`` lists what differs now and, with ``restore=True``, puts the recorded
objects back. Its common case (nothing changed) is a handful of passes in C over flat tuples of the recorded
objects, compared by identity: a few milliseconds for some 250,000 objects.

Everything below ``take``, ``subset`` may run after student code, which can rebind module attributes and
builtins, so it is written in the grader's *guarded style*: it reads no global or builtin name at run time
(what a function needs is a positional default, bound when this module is imported, before any submission
runs), calls no method on an object a submission could have made, and compares objects by identity. A test
(``tests/test_grading_guard.py``) disassembles these functions to hold them to it.
"""

from __future__ import annotations

import builtins
import collections
import itertools
import operator
import sys
import types

# The kernel's own machinery: a check never calls into it, and it changes its module state as it runs.
UNPROTECTED = frozenset({
    "__main__", "__mp_main__", "IPython", "ipykernel", "jupyter_client", "jupyter_core", "zmq", "tornado",
    "asyncio", "anyio", "sniffio", "traitlets", "comm", "debugpy", "prompt_toolkit", "pygments", "jedi",
    "parso",
    "stack_data", "executing", "pure_eval", "asttokens", "wcwidth", "decorator", "pickleshare", "backcall",
    "matplotlib_inline", "logging", "threading", "queue", "selectors", "socket", "_socket", "ssl", "sqlite3",
    "linecache", "tokenize", "codeop", "atexit", "signal", "getpass", "psutil", "platformdirs", "dateutil",
    "nest_asyncio", "uuid", "tempfile", "_pytest", "pytest", "pluggy", "nbval", "nbformat", "fastjsonschema",
    "jsonschema", "course_utils", "matplotlib", "mpl_toolkits", "PIL", "ipywidgets", "widgetsnbextension",
    "tqdm", "pandas",
    "sys", "builtins",  # recorded entry by entry, less their volatile entries (below)
})
VOLATILE_SYS = frozenset({
    "stdout", "stderr", "stdin", "__stdout__", "__stderr__", "__stdin__", "displayhook", "excepthook",
    "last_type", "last_value", "last_traceback", "ps1", "ps2", "ps3", "argv", "path", "path_importer_cache",
    "_home", "tracebacklimit", "breakpointhook", "unraisablehook", "exc_info", "modules",
})
VOLATILE_BUILTINS = frozenset({
    "_", "__", "___", "display", "get_ipython", "__IPYTHON__", "exit", "quit", "help", "copyright", "credits",
    "license", "__builtins__", "__IPYTHON__active", "dreload", "__debug__", "input", "raw_input",
})
HOOKLIKE = ("hook", "callback", "registry", "_handlers")
SCALARS = frozenset((type(None), bool, int, float, str))  # a private flag switching between these: no change
BUILTIN_NAMES = frozenset(vars(builtins))
KINDS = ("modules", "classes", "functions", "containers", "named")
MISSING = object()
_HEAPTYPE = 1 << 9


def _protected(name: str) -> bool:
    return name.split(".", 1)[0] not in UNPROTECTED


def take() -> dict:
    """Record the current state (call before any submission code runs); ``compare`` checks against it."""
    state = {kind: [] for kind in KINDS}
    seen_fn, seen_cls = set(), set()
    for name, mod in list(sys.modules.items()):
        if not (isinstance(name, str) and isinstance(mod, types.ModuleType) and _protected(name)):
            continue
        d = vars(mod)
        state["modules"].append([name, name, mod, type(mod), d, tuple(d), tuple(d.values())])
        for key, value in list(d.items()):
            _record_value(state, f"{name}.{key}", name, value, seen_fn, seen_cls)
    for label, d, volatile in (("sys", vars(sys), VOLATILE_SYS),
                               ("builtins", vars(builtins), VOLATILE_BUILTINS)):
        keys = tuple(k for k in d if k not in volatile)
        state["named"].append([label, label, d, keys, tuple(d[k] for k in keys)])
        for key in keys:
            if type(d[key]) is types.FunctionType:
                _record_function(state, f"{label}.{key}", label, d[key], seen_fn)
    return _columns(state)


def _record_value(state, label, module, value, seen_fn, seen_cls):
    if type(value) is types.FunctionType:
        _record_function(state, label, module, value, seen_fn)
    elif (issubclass(type(value), type) and value.__flags__ & _HEAPTYPE and id(value) not in seen_cls
          and vars(value).get("__module__") == module):
        seen_cls.add(id(value))
        proxy = vars(value)
        state["classes"].append([label, module, value, type(value), proxy, tuple(proxy),
                                 tuple(proxy.values())])
        for key, member in list(proxy.items()):
            inner = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            if type(inner) is types.FunctionType:
                _record_function(state, f"{label}.{key}", module, inner, seen_fn)
    elif (type(value) in (dict, list, set, collections.OrderedDict)
          and any(h in label.rsplit(".", 1)[-1].lower() for h in HOOKLIKE)):
        state["containers"].append([label, module, value, isinstance(value, dict), _contents(value)])


def _record_function(state, label, module, fn, seen_fn):
    if id(fn) in seen_fn:
        return
    seen_fn.add(id(fn))
    cells = tuple(c for c in fn.__closure__ or () if _cells((c,))[0] is not MISSING)
    kw = fn.__kwdefaults__
    state["functions"].append([label, module, fn, fn.__code__, fn.__defaults__, kw,
                               None if kw is None else tuple(_flat(kw.items())), cells, _cells(cells)])


def subset(state, modules) -> dict:
    """The part of ``state`` about these module names (sharing its records)."""
    modules = frozenset(modules)
    return _columns({kind: [entry for entry in state[kind] if entry[1] in modules] for kind in KINDS})


# ------------------------------------------------------------------------------------- guarded style

def _flat(pairs):
    out = []
    for key, value in pairs:
        out.append(key)
        out.append(value)
    return out


def _cells(cells, _tuple=tuple, _ValueError=ValueError, _missing=MISSING):
    out = []
    for cell in cells:
        try:
            out.append(cell.cell_contents)
        except _ValueError:
            out.append(_missing)
    return _tuple(out)


def _contents(container, _isinstance=isinstance, _dict=dict, _tuple=tuple, _items=dict.items, _flat=_flat):
    if _isinstance(container, _dict):
        return _tuple(_flat(_items(container)))
    return _tuple(container)


def _same(live, keys, values, _len=len, _all=all, _map=map, _is=operator.is_):
    return _len(live) == _len(keys) and _all(_map(_is, live, keys)) and _all(_map(_is, live.values(), values))


def _columns(state, _tuple=tuple, _chain=itertools.chain.from_iterable, _map=map, _flat=_flat,
             _items=dict.items):
    """Add the flat tuples ``compare`` checks in its common case (done again after a restore)."""
    dicts = _tuple([e[4] for e in state["modules"]] + [e[4] for e in state["classes"]])
    fns = state["functions"]
    kw = [e for e in fns if e[5] is not None]
    state["columns"] = {
        "names": _tuple([e[0] for e in state["modules"]]), "mods": _tuple([e[2] for e in state["modules"]]),
        "mtypes": _tuple([e[3] for e in state["modules"]]), "dicts": dicts,
        "keys": _tuple(_chain([e[5] for e in state["modules"]] + [e[5] for e in state["classes"]])),
        "values": _tuple(_chain([e[6] for e in state["modules"]] + [e[6] for e in state["classes"]])),
        "classes": _tuple([e[2] for e in state["classes"]]),
        "metas": _tuple([e[3] for e in state["classes"]]),
        "fns": _tuple([e[2] for e in fns]), "codes": _tuple([e[3] for e in fns]),
        "defaults": _tuple([e[4] for e in fns]), "kw_fns": _tuple([e[2] for e in kw]),
        "kw_dicts": _tuple([e[5] for e in kw]), "kw_flat": _tuple(_chain([e[6] for e in kw])),
        "cells": _tuple(_chain([e[7] for e in fns])), "contents": _tuple(_chain([e[8] for e in fns])),
    }
    return state


def frozen(state, _tuple=tuple, _proxy=types.MappingProxyType, _kinds=KINDS):
    """A read-only copy of ``state`` (tuples in mapping proxies), for code a submission can reach."""
    out = {}
    for kind in _kinds:
        out[kind] = _tuple([_tuple(e) for e in state[kind]])
    out["columns"] = _proxy(state["columns"])
    return _proxy(out)


def _unchanged(cols, _all=all, _map=map, _is=operator.is_, _tuple=tuple, _len=len, _type=type,
               _chain=itertools.chain.from_iterable, _keys=operator.methodcaller("keys"),
               _values=operator.methodcaller("values"), _items=dict.items, _flat=_flat,
               _code=operator.attrgetter("__code__"), _defaults=operator.attrgetter("__defaults__"),
               _kwdefaults=operator.attrgetter("__kwdefaults__"), _cell=operator.attrgetter("cell_contents"),
               _modules_get=sys.modules.get, _ValueError=ValueError):
    """True when nothing recorded in ``cols`` changed (the common case of ``compare``, in C)."""
    values = _tuple(_chain(_map(_values, cols["dicts"])))
    if _len(values) != _len(cols["values"]) or not _all(_map(_is, values, cols["values"])):
        return False
    if _tuple(_chain(_map(_keys, cols["dicts"]))) != cols["keys"]:  # names: str == str, in C
        return False
    if not (_all(_map(_is, _map(_modules_get, cols["names"]), cols["mods"]))
            and _all(_map(_is, _map(_type, cols["mods"]), cols["mtypes"]))
            and _all(_map(_is, _map(_type, cols["classes"]), cols["metas"]))
            and _all(_map(_is, _map(_code, cols["fns"]), cols["codes"]))
            and _all(_map(_is, _map(_defaults, cols["fns"]), cols["defaults"]))
            and _all(_map(_is, _map(_kwdefaults, cols["kw_fns"]), cols["kw_dicts"]))):
        return False
    kw = _tuple(_chain(_chain(_map(_items, cols["kw_dicts"]))))
    if _len(kw) != _len(cols["kw_flat"]) or not _all(_map(_is, kw, cols["kw_flat"])):
        return False
    try:
        return _all(_map(_is, _map(_cell, cols["cells"]), cols["contents"]))
    except _ValueError:  # a cell emptied
        return False


def _diff(name, live, keys, values, changed, restore, entry, modules, setattr_=None, delattr_=None,
          _type=type, _str=str, _missing=MISSING, _tuple=tuple, _len=len, _zip=zip, _list=list,
          _is_module=types.ModuleType.__instancecheck__, _scalars=SCALARS, _builtin_names=BUILTIN_NAMES):
    """The slow path of ``compare`` for one dictionary (a module's, or a class's through ``setattr_``).
    Not changes: a new attribute other than a builtin's or a dunder name (modules and torch grow them lazily),
    and a private name switching between ``None``/bool/int/float/str values (lazy flags)."""
    before = _len(changed)
    known = {}
    for key, value in _zip(keys, values):
        known[key] = value
        now = live.get(key, _missing)
        if now is value:
            continue
        if (now is not _missing and _type(key) is _str and key.startswith("_") and _type(now) in _scalars
                and _type(value) in _scalars):
            continue
        changed.append(f"{name}.{key}" if _type(key) is _str else f"{name}.<a key>")
        if restore:
            if setattr_ is None:
                live[key] = value
            else:
                setattr_(entry[2], key, value)
    for key in _list(live):
        if _type(key) is not _str:
            changed.append(f"{name}.<a key that is not a string> (added)")
            if restore and setattr_ is None:
                del live[key]
            continue
        if key in known or not (key in _builtin_names or (key.startswith("__") and key.endswith("__"))):
            continue
        if key == "__warningregistry__" or (modules is not None and _is_module(live[key])
                                            and modules.get(name + "." + key) is live[key]):
            continue
        changed.append(f"{name}.{key} (added)")
        if restore:
            if setattr_ is None:
                del live[key]
            else:
                delattr_(entry[2], key)
    if (restore or _len(changed) == before) and _type(entry) is _list:
        entry[-2], entry[-1] = _tuple(live), _tuple(live.values())


def _functions(entries, changed, restore, _zip=zip, _all=all, _map=map, _is=operator.is_, _flat=_flat,
               _items=dict.items, _cells=_cells, _tuple=tuple, _missing=MISSING,
               _set_code=types.FunctionType.__dict__["__code__"].__set__,
               _set_defaults=types.FunctionType.__dict__["__defaults__"].__set__,
               _set_kwdefaults=types.FunctionType.__dict__["__kwdefaults__"].__set__):
    """The slow path of ``compare`` for functions."""
    for entry in entries:
        label, _, fn, code, defaults, kw, kw_flat, cells, contents = entry
        if fn.__code__ is not code:
            changed.append(f"{label}.__code__")
            if restore:
                _set_code(fn, code)
        if fn.__defaults__ is not defaults:
            changed.append(f"{label}.__defaults__")
            if restore:
                _set_defaults(fn, defaults)
        if kw is not None and (fn.__kwdefaults__ is not kw
                               or not _all(_map(_is, _flat(_items(kw)), kw_flat))):
            changed.append(f"{label}.__kwdefaults__")
            if restore:
                kw.clear()
                kw.update(_zip(kw_flat[0::2], kw_flat[1::2]))
                _set_kwdefaults(fn, kw)
        if cells and not _all(_map(_is, _cells(cells), contents)):
            changed.append(f"{label} (its closure)")
            if restore:
                for cell, value in _zip(cells, contents):
                    cell.cell_contents = value


def compare(state, restore=False, _len=len, _type=type, _zip=zip, _list=list, _all=all, _map=map,
            _is=operator.is_, _modules=sys.modules, _missing=MISSING, _same=_same, _diff=_diff,
            _unchanged=_unchanged, _functions=_functions, _columns=_columns, _contents=_contents,
            _setattr=type.__setattr__, _delattr=type.__delattr__,
            _set_class=object.__dict__["__class__"].__set__):
    """What differs from the record, as a list of names (``torch.testing.assert_close``,
    ``sys.modules['numpy']``, ``torch.Tensor.__eq__``, ``numpy.isclose.__code__`` ...). With ``restore``, put
    the recorded objects back; what cannot be undone ends with `` (not undone)``."""
    changed = []
    for entry in state["named"]:
        label, _, d, keys, values = entry
        for key, value in _zip(keys, values):
            if d.get(key, _missing) is not value:
                changed.append(f"{label}.{key}")
                if restore:
                    d[key] = value
    for entry in state["containers"]:
        label, _, container, is_dict, contents = entry
        now = _contents(container)
        if _len(now) != _len(contents) or not _all(_map(_is, now, contents)):
            changed.append(f"{label} (entries added or removed)")
            if restore:
                container.clear()
                if is_dict:
                    container.update(_zip(contents[0::2], contents[1::2]))
                elif _type(container) is _list:
                    container.extend(contents)
                else:
                    container.update(contents)
    if _unchanged(state["columns"]):
        return changed
    for entry in state["modules"]:
        name, _, mod, mtype, d, keys, values = entry
        if _modules.get(name, _missing) is not mod:
            changed.append(f"sys.modules[{name!r}]")
            if restore:
                _modules[name] = mod
        if _type(mod) is not mtype:
            changed.append(f"the type of module {name}")
            if restore:
                _set_class(mod, mtype)
        if not _same(d, keys, values):
            _diff(name, d, keys, values, changed, restore, entry, _modules)
    for entry in state["classes"]:
        label, _, cls, meta, proxy, keys, values = entry
        if _type(cls) is not meta:
            changed.append(f"the metaclass of {label} (not undone)")
        if not _same(proxy, keys, values):
            _diff(label, proxy, keys, values, changed, restore, entry, None, _setattr, _delattr)
    _functions(state["functions"], changed, restore)
    if _type(state["modules"]) is _list:
        _columns(state)
    return changed
