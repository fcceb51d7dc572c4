"""``python -m course_utils.grading.kernel -f CONNECTION_FILE``: the kernel the grader runs notebooks in.

It is ipykernel's own kernel, with the grader's guard (``guard.py``) installed after the kernel is set up and
before it executes anything. The guard's configuration (the run's key, the check sources) is read from the
file named by ``COURSE_GRADING_GUARD``, which is deleted at once, as is the variable: no cell can read them.
"""

from __future__ import annotations

import json
import os
import sys


def _no_memory_access() -> None:
    """Make this process non-dumpable: other processes of the same user cannot ptrace it or read its memory
    (``/proc/PID/mem``), which is where the run's key lives."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):  # not Linux
        pass


def _read_config() -> dict | None:
    path = os.environ.pop("COURSE_GRADING_GUARD", None)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    finally:
        os.unlink(path)


def main(argv: list[str] | None = None) -> None:
    config = _read_config()
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:] if argv is None else argv)
    if config is not None:
        _install_before_first_cell(app, config)
    del config
    app.start()


def _install_before_first_cell(app, config: dict) -> None:
    """Install the guard when the first cell arrives: the kernel's own threads are all running by then, and
    no cell has run yet."""
    from course_utils.grading import guard

    kernel = app.kernel
    do_execute = kernel.do_execute

    async def do_execute_installing(*args, **kwargs):
        kernel.do_execute = do_execute
        _no_memory_access()
        guard.install(config, app.shell.user_ns, sys.stdout)
        return await do_execute(*args, **kwargs)

    kernel.do_execute = do_execute_installing


if __name__ == "__main__":
    main()
