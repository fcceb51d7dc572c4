"""The throw-away Linux sandbox each submission's check runs in (bubblewrap, ``bwrap``).

One sandbox per run of a submission holds pytest, nbval and the kernel (a kernel in its own network namespace
could not talk TCP to a client outside). It has:

* no network: a network namespace with only its own loopback;
* its own process, IPC, UTS, cgroup and user namespaces (uid 1000 inside, all capabilities dropped, no nested
  user namespaces), a new session (no terminal to type into), and it dies with the grader;
* a read-only view of what the kernel needs and nothing else: ``/usr`` (and the ``/bin``, ``/lib*`` links),
  the Python installation (``sys.prefix``, ``sys.base_prefix``) and its site-packages, the ``course_utils``
  package; ``readable_paths()`` lists them;
* ``/grading`` (the kernel's current folder, holding the notebook to run) and ``/tmp``: private tmpfs of a
  fixed size, so a submission cannot fill the disk;
* a fresh ``/proc`` (of its own processes only) and a minimal ``/dev``.

No home folder, no grading keys, no other submission, no instructor file is visible: the guard's
configuration (the check sources and the run's key) is copied in through a file descriptor, and the kernel
deletes it before any cell runs. Results come back through a pipe. Process limits (memory, CPU time, file
size, open files, core dumps) are set by the launcher inside (``runner.py``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import course_utils

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf "
                "install bubblewrap; Arch: sudo pacman -S bubblewrap), or grade with --no-sandbox, which "
                "runs the students' code with your permissions")
INSIDE_UID = 1000
WORK, TMP = "/grading", "/tmp"
GUARD_FILE = "/tmp/course-guard.json"


def pythonpath() -> str:
    """The folder that holds the ``course_utils`` package (what the sandbox's PYTHONPATH names)."""
    return str(Path(course_utils.__file__).resolve().parent.parent)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox here."""


def _python_roots() -> list[Path]:
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix),
             Path(os.path.realpath(sys.executable)).parent.parent}
    for entry in sys.path:
        path = Path(entry)
        if path.name in ("site-packages", "dist-packages") and path.is_dir():
            roots.add(path)
    return sorted({Path(os.path.realpath(r)) for r in roots if r.exists()})


def readable_paths() -> list[str]:
    """Every host path a submission can read inside the sandbox (read-only), outermost first."""
    paths = [Path("/usr")] + _python_roots() + [Path(course_utils.__file__).resolve().parent]
    kept: list[Path] = []
    for path in sorted(set(paths), key=lambda p: (len(p.parts), str(p))):
        if not any(path == k or k in path.parents for k in kept):
            kept.append(path)
    return [str(p) for p in kept]


def _system_links() -> list[str]:
    args = []
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def command(inner: list[str], *, files: dict[str, str | os.PathLike], guard_fd: int | None,
            env: dict[str, str], work_mb: int = 64, tmp_mb: int = 64) -> list[str]:
    """The ``bwrap`` command line that runs ``inner`` in a sandbox: ``files`` maps paths inside ``/work`` to
    host files (bound read-only), ``guard_fd`` is copied to ``GUARD_FILE``, ``env`` is the whole
    environment."""
    args = ["bwrap", "--unshare-all", "--unshare-user", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID),
            "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev",  # the tmpfs first: a Python installation may live under /tmp
            "--size", str(tmp_mb * 2**20), "--tmpfs", TMP, "--size", str(work_mb * 2**20), "--tmpfs", WORK,
            "--ro-bind", "/usr", "/usr", *_system_links()]
    for path in readable_paths():
        if path != "/usr":
            args += ["--ro-bind", path, path]
    for name, host in files.items():
        args += ["--ro-bind", str(host), f"{WORK}/{name}"]
    if guard_fd is not None:
        args += ["--perms", "0600", "--file", str(guard_fd), GUARD_FILE]
    args += ["--chdir", WORK, "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--", *inner]


@functools.lru_cache(maxsize=1)
def _probe() -> str | None:
    if sys.platform != "linux":
        return f"the sandbox needs Linux (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    package = str(Path(course_utils.__file__).resolve().parent)
    probe = command([sys.executable, "-S", "-c", "import os, sys; os.stat(sys.argv[1])", package], files={},
                    guard_fd=None, env={})
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap could not start ({err})"
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        return f"bubblewrap cannot create a sandbox here ({detail[0]}; user namespaces may be disabled)"
    return None


def require() -> None:
    """Raise SandboxUnavailable (with how to fix it) unless a sandbox can be made on this machine."""
    problem = _probe()
    if problem:
        raise SandboxUnavailable(f"cannot grade in a sandbox: {problem}; {INSTALL_HINT}")
