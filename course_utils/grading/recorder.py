"""The grader's pytest plugin, copied into each grading folder as ``conftest.py`` (course_utils.grading).

It records each notebook cell's outcome as one JSON line as soon as the cell finishes, notices a dead kernel
within half a second instead of waiting for the timeout, and gives the key's own cells a longer timeout.
It runs only inside a grading run (it reads ``COURSE_GRADING_RESULTS``); importing it elsewhere does nothing.
"""
import json
import os
import time
from queue import Empty

import pytest

_RESULTS = os.environ.get("COURSE_GRADING_RESULTS")
_OUT = open(_RESULTS, "a", encoding="utf-8") if _RESULTS else None
# cells that run the key's own code (imports, data) get a longer timeout than the students' cells
_TIMEOUTS = {int(k): float(v) for k, v in json.loads(os.environ.get("COURSE_GRADING_TIMEOUTS", "{}")).items()}
_CURRENT = {"cell": None}


class KernelDied(RuntimeError):
    """The kernel process exited while a cell was running."""


def _patch_nbval():
    from nbval import kernel as nbval_kernel
    from nbval import plugin as nbval_plugin

    runtest = nbval_plugin.IPyNbCell.runtest

    def runtest_recording_cell(self):
        _CURRENT["cell"] = self.cell_num
        try:
            return runtest(self)
        finally:
            _CURRENT["cell"] = None

    def await_reply(self, msg_id, timeout=None):
        # nbval's loop, polling so that a dead kernel is noticed within half a second (not after the timeout)
        if _CURRENT["cell"] in _TIMEOUTS:
            timeout = _TIMEOUTS[_CURRENT["cell"]]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise Empty
            try:
                msg = self.get_message(stream="shell", timeout=0.5 if left is None else min(0.5, left))
            except Empty:
                if not self.is_alive():
                    raise KernelDied("the kernel process died") from None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                if msg["content"]["status"] == "aborted":
                    raise RuntimeError("Kernel aborted execution request")
                return

    nbval_kernel.RunningKernel.await_reply = await_reply
    nbval_plugin.IPyNbCell.runtest = runtest_recording_cell


if _OUT is not None:
    _patch_nbval()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    cell = getattr(item, "cell_num", None)
    if _OUT is None or cell is None or not (call.when == "call" or call.excinfo is not None):
        return
    record = {"cell": cell, "when": call.when, "ok": call.excinfo is None, "seconds": round(call.duration, 3)}
    if call.excinfo is not None:
        record["exception"] = type(call.excinfo.value).__name__
        record["message"] = str(call.excinfo.value)[:4000]
    for out in getattr(item, "test_outputs", None) or []:
        if out.get("output_type") == "error":
            record["ename"] = str(out.get("ename", ""))[:200]
            record["evalue"] = str(out.get("evalue", ""))[:4000]
            break
    _OUT.write(json.dumps(record) + "\n")
    _OUT.flush()
