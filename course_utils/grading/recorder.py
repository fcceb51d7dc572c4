"""The grader's pytest plugin, copied into each grading folder as ``conftest.py`` (course_utils.grading).

For each notebook cell nbval runs, it writes one JSON line to the results channel (``COURSE_GRADING_RESULTS``:
``fd:N`` or a file) as soon as the cell finishes: the outcome, and the lines of the cell's output that carry
the grader's verdict (``guard.py``). It also

* starts the kernel as ``python -m course_utils.grading.kernel`` (ipykernel with the grader's guard);
* notices a dead kernel within half a second instead of waiting for the timeout;
* gives the key's own cells a longer timeout (``COURSE_GRADING_TIMEOUTS``);
* stops a cell whose output passes ``COURSE_GRADING_OUTPUT_LIMIT`` bytes (and the kernel with it), and refuses
  single messages over 64 MB, so that a submission printing without end cannot exhaust the grader's memory.

It does nothing outside a grading run (without ``COURSE_GRADING_RESULTS``).
"""

import json
import os
import sys
import time
from queue import Empty

import pytest

MARKER = "@@course-grading-verdict@@"
_CHANNEL = os.environ.get("COURSE_GRADING_RESULTS")
_TIMEOUTS = {int(k): float(v) for k, v in json.loads(os.environ.get("COURSE_GRADING_TIMEOUTS", "{}")).items()}
_OUTPUT_LIMIT = int(os.environ.get("COURSE_GRADING_OUTPUT_LIMIT", str(2**20)))
_CURRENT = {"cell": None, "bytes": 0}


class KernelDied(RuntimeError):
    """The kernel process exited while a cell was running."""


class OutputFlood(RuntimeError):
    """A cell printed more than the grader reads."""


def _open_channel(spec):
    if spec.startswith("fd:"):
        return os.fdopen(int(spec[3:]), "w", encoding="utf-8")
    return open(spec, "a", encoding="utf-8")


def _patch_nbval():
    import zmq
    from nbval import kernel as nbval_kernel
    from nbval import plugin as nbval_plugin

    zmq.Context.instance().setsockopt(zmq.MAXMSGSIZE, 64 * 2**20)
    get_spec = nbval_kernel.NbvalKernelspecManager.get_kernel_spec

    def get_kernel_spec(self, kernel_name):
        spec = get_spec(self, kernel_name)
        if kernel_name == nbval_kernel.CURRENT_ENV_KERNEL_NAME:
            spec.argv = [sys.executable, "-m", "course_utils.grading.kernel", "-f", "{connection_file}"]
        return spec

    runtest = nbval_plugin.IPyNbCell.runtest

    def runtest_recording_cell(self):
        _CURRENT["cell"], _CURRENT["bytes"] = self.cell_num, 0
        try:
            return runtest(self)
        finally:
            _CURRENT["cell"] = None

    get_message = nbval_kernel.RunningKernel.get_message

    def get_message_counting(self, stream, timeout=None):
        msg = get_message(self, stream, timeout)
        if stream == "iopub" and _CURRENT["cell"] is not None:
            content = msg.get("content", {})
            _CURRENT["bytes"] += len(str(content.get("text", ""))) + len(json.dumps(content.get("data", {})))
            if _CURRENT["bytes"] > _OUTPUT_LIMIT:
                self.km.shutdown_kernel(now=True)
                raise OutputFlood(f"the cell printed more than {_OUTPUT_LIMIT} bytes")
        return msg

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

    nbval_kernel.NbvalKernelspecManager.get_kernel_spec = get_kernel_spec
    nbval_kernel.RunningKernel.get_message = get_message_counting
    nbval_kernel.RunningKernel.await_reply = await_reply
    nbval_plugin.IPyNbCell.runtest = runtest_recording_cell


_OUT = _open_channel(_CHANNEL) if _CHANNEL else None
if _OUT is not None:
    _patch_nbval()


def _verdict_lines(outputs) -> list[str]:
    lines = []
    for out in outputs:
        text = out.get("text", "") if out.get("output_type") == "stream" else ""
        lines += [ln[:16000] for ln in str(text).splitlines() if ln.startswith(MARKER)]
    return lines[:8]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    cell = getattr(item, "cell_num", None)
    if _OUT is None or cell is None or not (call.when == "call" or call.excinfo is not None):
        return
    record = {"cell": cell, "when": call.when, "ok": call.excinfo is None, "seconds": round(call.duration, 3)}
    outputs = getattr(item, "test_outputs", None) or []
    if call.excinfo is not None:
        record["exception"] = type(call.excinfo.value).__name__
        record["message"] = str(call.excinfo.value)[:4000]
    for out in outputs:
        if out.get("output_type") == "error":
            record["ename"] = str(out.get("ename", ""))[:200]
            record["evalue"] = str(out.get("evalue", ""))[:4000]
            break
    record["verdicts"] = _verdict_lines(outputs)
    _OUT.write(json.dumps(record) + "\n")
    _OUT.flush()
