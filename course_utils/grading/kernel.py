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


class OutputFlood(RuntimeError):
    """A cell printed more than the grader reads (raised in the cell, by its own print)."""


def _cap_output(kernel, streams, limit: int) -> None:
    """Count what each cell's code writes to ``streams`` (the kernel's stdout and stderr); a write that
    takes a cell past ``limit`` characters raises :class:`OutputFlood` in the cell instead of printing.

    The grader also counts the output it receives (``recorder.py``), but ipykernel sends a tight loop's
    prints only when it gets to: a ``while True: print(...)`` cell stopped at the cell timeout could then
    have sent nothing yet, or run out of memory, or sent one message too large to be read, and the report
    said something different on each run. Counted here, where the output is made, the cell stops at the
    limit every time. Only the main thread's writes count (ipykernel's own threads write captured
    file-descriptor output through the same streams); the grader's count still covers the rest.
    """
    import threading

    main = threading.get_ident()
    printed = [0]
    for stream in streams:
        def capped(text, _write=stream.write):
            if threading.get_ident() == main:
                printed[0] += len(text)
                if printed[0] > limit:
                    raise OutputFlood(f"the cell printed more than {limit} bytes")
            return _write(text)

        stream.write = capped
    do_execute = kernel.do_execute

    async def do_execute_counting(*args, **kwargs):
        printed[0] = 0
        return await do_execute(*args, **kwargs)

    kernel.do_execute = do_execute_counting


def _start_lazy_threads() -> None:
    """Start the threads that the kernel's own libraries start on first need, so that the guard's count of
    threads (taken next) includes them. pyzmq starts its garbage-collector thread with the first message
    it sends without copying, i.e. the first cell output over 64 KB: a student whose answer printed 70 KB
    had every later check called tampered ("a thread the submission started was still running")."""
    from zmq.utils.garbage import gc as zmq_garbage_collector

    if not zmq_garbage_collector.is_alive():
        zmq_garbage_collector.start()


def _install_before_first_cell(app, config: dict) -> None:
    """Install the guard when the first cell arrives: the kernel's own threads are all running by then, and
    no cell has run yet. The output cap comes after the guard, which keeps the streams' own ``write``."""
    from course_utils.grading import guard

    kernel = app.kernel
    do_execute = kernel.do_execute
    limit = int(os.environ.get("COURSE_GRADING_OUTPUT_LIMIT", "0") or 0)

    async def do_execute_installing(*args, **kwargs):
        kernel.do_execute = do_execute
        _no_memory_access()
        _start_lazy_threads()
        guard.install(config, app.shell.user_ns, sys.stdout)
        if limit > 0:
            _cap_output(kernel, (sys.stdout, sys.stderr), limit)
        return await do_execute(*args, **kwargs)

    kernel.do_execute = do_execute_installing


if __name__ == "__main__":
    main()
