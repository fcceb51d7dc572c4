"""JupyterLab in headless Chromium, the way a student sees the notebooks.

One :class:`JupyterServer` (JupyterLab on 127.0.0.1, a free port, a random token, a temporary copy of
the repository, every Jupyter directory in a temporary folder, autosave off) and one :class:`Browser`
(Debian's Chromium driven by the ``playwright`` package through ``executable_path`` -- ``playwright
install`` is never used) serve a whole session; :func:`lab_session` starts both and stops both, even on
failure. :meth:`Browser.open_notebook` gives a :class:`NotebookPage`: run all cells from the Run menu,
wait for every prompt, read the error outputs, find every control of every widget and move it as a
person would (keyboard on a slider handle, an option picked in a dropdown, a click on a check box or a
toggle button) while watching the plot and readouts of the widget box around it.

Used by ``test_notebooks_in_browser.py``, ``latency.py`` and ``screenshots.py``. Recipe and traps:
``shared/conventions.md``, section "Browser tests".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
# Left out of the temporary copy of the repository: version control, environments, caches.
COPY_IGNORE = (".git", ".venv", "venv", "__pycache__", ".ipynb_checkpoints", "*.egg-info", ".ruff_cache",
               ".pytest_cache", ".mypy_cache", "node_modules")
# User settings of the temporary JupyterLab: no autosave (nothing is written back), no news, no update
# check, no extension manager (they would reach for the network).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
    # the notebook's python3 kernel starts without a "Select Kernel" dialog (otherwise shown at random
    # when the page asks before the kernel specs have loaded)
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
}
IDLE_SELECTOR = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
STDERR_SELECTOR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
WIDGET_ERROR_TEXTS = ("Error displaying widget", "model not found")
REQUIRE_ENV = "COURSE_REQUIRE_BROWSER"
BINDER_MEM_LIMIT = 2 * 1024**3  # what mybinder.org gives a session (its MEM_LIMIT)


class BrowserUnavailable(RuntimeError):
    """Chromium or the playwright package is missing on this machine."""


# ---------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------

def notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The course notebooks, in order (``notebooks/*.ipynb``)."""
    return sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))


def chromium_path() -> str | None:
    """Path of Debian's ``chromium`` on PATH, or None."""
    return shutil.which("chromium")


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here (None when Chromium and playwright are both present)."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the 'playwright' Python package is not installed (pip install -r requirements.txt)")
    if chromium_path() is None:
        missing.append("no 'chromium' on PATH (Debian: apt-get install -y chromium; "
                       "'playwright install' is not used)")
    return "; ".join(missing) or None


def browser_required() -> bool:
    """True when a missing browser must fail the run instead of skipping (``COURSE_REQUIRE_BROWSER=1``)."""
    return os.environ.get(REQUIRE_ENV, "") == "1"


def notebook_kernel_name(path: Path) -> str:
    """The kernel a notebook asks for in its metadata (``python3`` when it names none)."""
    meta = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    return meta.get("kernelspec", {}).get("name") or "python3"


def _quietly(function, *args) -> None:
    with contextlib.suppress(Exception):
        function(*args)


def run_binder_postbuild(root: Path, prefix: Path) -> Path:
    """Run ``binder/postBuild`` as Binder does, but into ``prefix`` and without its ``pip install``.

    Returns ``prefix``, which then holds the settings files the script installs
    (``share/jupyter/lab/settings/overrides.json``, ``etc/jupyter/jupyter_server_config.d/``).
    """
    prefix.mkdir(parents=True, exist_ok=True)
    fake_bin = prefix / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    fake_python = fake_bin / "python"  # `python -m pip ...` does nothing; anything else is the real python
    fake_python.write_text(f'#!/bin/sh\n[ "$1 $2" = "-m pip" ] && exit 0\nexec "{sys.executable}" "$@"\n')
    fake_python.chmod(0o755)
    env = dict(os.environ, NB_PYTHON_PREFIX=str(prefix), PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["bash", str(root / "binder" / "postBuild")], cwd=root, env=env, check=True,
                   capture_output=True, timeout=60)
    return prefix


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answering(ask, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Call ``ask()`` (a request to a server started as ``proc``) until it raises no OSError; re-raise the
    last one when ``proc`` has exited or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            ask()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.3)


def _descendants(pid: int) -> list:
    try:
        import psutil

        return psutil.Process(pid).children(recursive=True)
    except Exception:  # psutil missing or the process gone
        return []


def kill_process_tree(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop ``proc`` (started with ``start_new_session=True``), its process group and all its children.

    Kernels run in sessions of their own, so they are collected first and stopped after the server.
    """
    children = _descendants(proc.pid)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    if children:
        import psutil

        alive = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                if child.is_running():
                    child.terminate()
                    alive.append(child)
        _, alive = psutil.wait_procs(alive, timeout=3)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

class JupyterServer:
    """JupyterLab on 127.0.0.1 serving a temporary copy of ``root``; a context manager.

    Everything it writes (the copy, checkpoints, settings, workspaces, runtime files, the log) lives
    in one temporary folder, removed by :meth:`stop`.
    """

    def __init__(self, root: Path = ROOT, *, start_timeout: float = 90.0):
        self.source_root = Path(root).resolve()
        self.start_timeout = start_timeout
        self.token = secrets.token_hex(24)
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None
        self.root: Path | None = None
        self.log_path: Path | None = None
        self._log = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy

    def __enter__(self) -> JupyterServer:
        try:
            self.launch()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def launch(self) -> None:
        """Copy the repository and start the server process (returns at once; see :meth:`wait_ready`)."""
        self.tmp = Path(tempfile.mkdtemp(prefix="course-browser-"))
        self.root = self.tmp / "repo"
        shutil.copytree(self.source_root, self.root, ignore=shutil.ignore_patterns(*COPY_IGNORE),
                        symlinks=True)
        dirs = {n: self.tmp / n for n in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
        for d in dirs.values():
            d.mkdir()
        for plugin, values in LAB_SETTINGS.items():
            path = dirs["settings"] / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernel uses matplotlib's inline backend, as for a student
        env.update(JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_DATA_DIR=str(dirs["data"]),
                   JUPYTER_RUNTIME_DIR=str(dirs["runtime"]), JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
                   JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]), IPYTHONDIR=str(dirs["ipython"]))
        # The site-wide settings of the course's Binder image, made by its own postBuild (kernels shut
        # down when their tab closes, the memory meter with a 2 GB limit as on Binder).
        prefix = run_binder_postbuild(self.source_root, self.tmp / "binder-prefix")
        env.update(JUPYTER_CONFIG_PATH=str(prefix / "etc" / "jupyter"), MEM_LIMIT=str(BINDER_MEM_LIMIT))
        self.port = free_port()
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--LabApp.extension_manager=readonly",
               f"--LabApp.app_settings_dir={prefix / 'share' / 'jupyter' / 'lab' / 'settings'}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # the server refuses to start as root otherwise
        self.log_path = self.tmp / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self) -> None:
        """Wait until the server answers its REST API."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not answer in {self.start_timeout:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Shut every kernel down, stop the server and its children, remove the temporary folder."""
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(Exception):
                    for kernel in self.api("GET", "kernels") or []:
                        self.api("DELETE", f"kernels/{kernel['id']}", timeout=10)
            kill_process_tree(self.proc)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab", **query) -> str:
        """A URL of this server with the token (and ``query``) attached."""
        q = urllib.parse.urlencode({**query, "token": self.token})
        return f"{self.base_url}/{path.lstrip('/')}?{q}"

    def api(self, method: str, path: str, timeout: float = 5.0, body=None):
        """Call the REST API (``/api/<path>``, JSON ``body``); the decoded JSON answer (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base_url}/api/{path}", method=method, data=data,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with self._opener.open(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def start_session(self, notebook_path: str, kernel_name: str = "python3") -> dict:
        """Start a kernel session for ``notebook_path`` (relative to the root), as opening it does."""
        return self.api("POST", "sessions", timeout=60, body={
            "path": notebook_path, "name": Path(notebook_path).name, "type": "notebook",
            "kernel": {"name": kernel_name}})

    def shutdown_kernels(self, notebook_path: str | None = None) -> None:
        """Delete the sessions (and their kernels) of ``notebook_path`` (relative to the root), or all."""
        for session in self.api("GET", "sessions") or []:
            if notebook_path is None or session.get("path") == notebook_path:
                self.api("DELETE", f"sessions/{session['id']}", timeout=15)

    def log_tail(self, n: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-n:].decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# The browser
# ---------------------------------------------------------------------------------------------

class Browser:
    """Headless Debian Chromium with a fresh profile (one persistent context); a context manager."""

    def __init__(self, server: JupyterServer, *, viewport=VIEWPORT, timeout_ms: int = 30_000):
        reason = browser_unavailable_reason()
        if reason:
            raise BrowserUnavailable(reason)
        self.server = server
        self.viewport = viewport
        self.timeout_ms = timeout_ms
        self._pw = None
        self.context = None
        self.profile: Path | None = None
        self._threads: list[threading.Thread] = []
        self.page = None  # the page JupyterLab runs in, reused from notebook to notebook
        self.kernels_left: dict[str, bool] = {}  # notebook -> its kernel outlived its closed tab

    def join_background(self, timeout_s: float = 30.0) -> None:
        """Wait for the background work started so far (kernel start-ups and shut-downs)."""
        for thread in list(self._threads):
            thread.join(timeout_s)

    def __enter__(self) -> Browser:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        from playwright.sync_api import sync_playwright

        self.profile = Path(tempfile.mkdtemp(prefix="course-chromium-"))
        self._pw = sync_playwright().start()
        # launch_persistent_context passes --user-data-dir=<the fresh profile> itself
        self.context = self._pw.chromium.launch_persistent_context(
            str(self.profile), executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
            viewport=self.viewport, device_scale_factor=1, timeout=60_000)
        self.context.set_default_timeout(self.timeout_ms)

    def stop(self) -> None:
        for thread in self._threads:  # kernel start-ups and shut-downs still on their way
            thread.join(30)
        self._threads.clear()
        if self.context is not None:
            with contextlib.suppress(Exception):
                self.context.close()
            self.context = None
        if self._pw is not None:
            with contextlib.suppress(Exception):
                self._pw.stop()
            self._pw = None
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None

    @contextlib.contextmanager
    def open_notebook(self, notebook: Path | str, *, timeout_s: float = 90):
        """Open ``notebook`` in JupyterLab and yield its :class:`NotebookPage`; on exit close its tab
        (discarding the outputs) and shut its kernel down.

        The first notebook loads JupyterLab in a page (``/lab/tree/<path>``); later ones are opened in
        the same page with File > Open from Path (a fresh page only when closing a tab failed).
        """
        path = Path(notebook)
        rel = (path.resolve().relative_to(self.server.source_root).as_posix() if path.is_absolute()
               else path.as_posix())
        # The server starts the notebook's kernel while the page opens the notebook (JupyterLab then
        # uses that session, as after a reload): the kernel's start-up overlaps JupyterLab's.
        kernel_name = notebook_kernel_name(self.server.root / rel)
        kernel = self._background(self.server.start_session, rel, kernel_name)
        if self.page is None or self.page.is_closed():
            self.page = self.context.new_page()
            fresh = True
        else:
            fresh = False
        nb = NotebookPage(self, self.page, rel)
        try:
            nb.load(timeout_s, before_wait=lambda: kernel.join(timeout_s), in_app=not fresh)
            yield nb
        finally:
            closed = False
            with contextlib.suppress(Exception):
                closed = nb.close()
            if not closed:
                with contextlib.suppress(Exception):
                    self.page.close(run_before_unload=False)
                self.page = None
            # JupyterLab itself shuts the kernel down when the tab closes (the Binder setting
            # kernelShutdown); record whether it did, then make sure (the next notebook need not wait)
            self._background(self._await_kernel_shutdown, rel)

    def _await_kernel_shutdown(self, rel: str, timeout_s: float = 15.0) -> None:
        """Record in ``kernels_left[rel]`` whether ``rel``'s kernel still ran ``timeout_s`` after its tab
        closed; then shut it down if so."""
        deadline = time.monotonic() + timeout_s
        while True:
            running = [s for s in self.server.api("GET", "sessions") or [] if s.get("path") == rel]
            if not running or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.kernels_left[rel] = bool(running)
        if running:
            self.server.shutdown_kernels(rel)

    def _background(self, function, *args) -> threading.Thread:
        """Run ``function(*args)`` in a thread, ignoring its errors (the page reports what matters)."""
        thread = threading.Thread(target=_quietly, args=(function, *args), daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread


@contextlib.contextmanager
def lab_session(root: Path = ROOT):
    """A started :class:`JupyterServer` and :class:`Browser` (Chromium starts while the server boots)."""
    server = JupyterServer(root)
    try:
        server.launch()
        with Browser(server) as browser:
            server.wait_ready()
            yield server, browser
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# One notebook on the page
# ---------------------------------------------------------------------------------------------

# Finds every widget output and every control in the notebook panel, marks them with data-bt-id and
# describes them. A control's "box" is its nearest enclosing widget box that holds an img.widget-image
# (or an Output widget): the plot and the readouts that moving the control should change.
_DESCRIBE_JS = r"""
(panel) => {
  const holders = [
    ['slider', '.widget-slider'], ['dropdown', '.widget-dropdown'], ['checkbox', '.widget-checkbox'],
    ['togglebuttons', '.widget-toggle-buttons'], ['toggle', 'button.widget-toggle-button'],
    ['radio', '.widget-radio'], ['select', '.widget-select'], ['button', 'button.jupyter-button'],
    ['number', '.widget-text:has(> input[type=number])'],
  ];
  let n = Number(panel.dataset.btCounter || 0);
  const mark = (el) => { if (!el.dataset.btId) el.dataset.btId = String(++n); return el.dataset.btId; };
  const clean = (text) => (text || '').replace(/\u200b/g, '').trim();
  const cells = Array.from(panel.querySelectorAll('.jp-Cell'));
  const widgets = [], controls = [];
  panel.querySelectorAll('.jp-OutputArea-output').forEach((out) => {
    if (!out.querySelector('.jupyter-widgets') && !out.textContent.includes('Error displaying widget')) {
      return;
    }
    const wid = mark(out);
    widgets.push({id: wid, cell: cells.indexOf(out.closest('.jp-Cell')),
                  images: out.querySelectorAll('img.widget-image').length,
                  height: out.getBoundingClientRect().height,
                  text: (out.textContent || '').slice(0, 4000)});
    const seen = new Set();
    for (const [kind, sel] of holders) {
      out.querySelectorAll(sel).forEach((el) => {
        if (seen.has(el)) return;
        if (kind === 'toggle' && el.closest('.widget-toggle-buttons')) return;  // a button of a group
        if (kind === 'button' && el.classList.contains('widget-toggle-button')) return;
        seen.add(el);
        let box = el.parentElement;
        while (box && box !== out && !(box.classList.contains('widget-box') &&
               box.querySelector('img.widget-image, .widget-output'))) box = box.parentElement;
        if (!box) box = out;
        const lab = el.querySelector(':scope > .widget-label, :scope > .widget-label-basic > span');
        const description = clean(lab && lab.textContent) || clean(el.textContent || el.title).slice(0, 40);
        const disabled = !!(el.disabled || el.classList.contains('mod-disabled') ||
                            el.querySelector(':disabled, [disabled]'));
        controls.push({id: mark(el), widget: wid, box: mark(box), kind, description, disabled,
                       visible: el.getClientRects().length > 0});
      });
    }
  });
  panel.dataset.btCounter = String(n);
  return {widgets, controls};
}
"""

# What a move may change: the src of every image, the content of every readout and Output widget in
# the box. "Changed" also needs every image decoded: the new plot is on the page.
_STATE_JS = r"""
const boxState = (box) => JSON.stringify({
  img: Array.from(box.querySelectorAll('img')).map((i) => i.getAttribute('src')),
  html: Array.from(box.querySelectorAll('.widget-html-content, .widget-htmlmath-content'))
    .map((h) => h.innerHTML),
  out: Array.from(box.querySelectorAll('.widget-output'))
    .map((o) => o.innerHTML.length + ':' + o.textContent),
});
"""
_SNAPSHOT_JS = "(box) => {" + _STATE_JS + " return boxState(box); }"
_CHANGED_JS = ("([box, before]) => {" + _STATE_JS + " if (boxState(box) === before) return false;"
               " return Array.from(box.querySelectorAll('img')).every((i) => i.complete); }")

_SETTLE_JS = ("async (box, [panel, quiet, timeout]) => {" + _STATE_JS +
              " const t0 = performance.now(); let last = boxState(box);"
              " while (performance.now() - t0 < timeout) {"
              "   await new Promise((r) => setTimeout(r, quiet));"
              "   const now = boxState(box);"
              "   const idle = !!panel.querySelector(" + json.dumps(IDLE_SELECTOR) + ");"
              "   if (now === last && idle) return true;"
              "   last = now; }"
              " return false; }")

_ERRORS_JS = r"""
([panel, stderrSel, widgetTexts]) => {
  const errors = [], warnings = [];
  const cells = Array.from(panel.querySelectorAll('.jp-Cell'));
  const where = (el) => cells.indexOf(el.closest('.jp-Cell'));
  panel.querySelectorAll(stderrSel).forEach((el) => {
    const text = el.innerText;
    if (/Traceback|^\s*\w*(Error|Exception)\b/m.test(text)) errors.push({cell: where(el), text});
    else warnings.push({cell: where(el), text});
  });
  panel.querySelectorAll('.jp-OutputArea-output').forEach((el) => {
    const text = el.innerText || '';
    if (widgetTexts.some((t) => text.includes(t))) errors.push({cell: where(el), text: text.slice(0, 2000)});
  });
  return {errors, warnings};
}
"""

_SLIDER_STATE_JS = r"""
(el, h) => {
  const r = el.querySelector('.widget-readout');
  const handle = el.querySelectorAll('.noUi-handle')[h];
  return {text: r ? r.textContent.trim() : '',
          editable: !!r && r.isContentEditable && r.getClientRects().length > 0,
          now: parseFloat(handle.getAttribute('aria-valuenow')),
          max: parseFloat(handle.getAttribute('aria-valuemax')),
          min: parseFloat(handle.getAttribute('aria-valuemin'))};
}
"""

_PROMPTS_JS = ("(panel) => Array.from(panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))"
               ".map((p) => p.textContent.trim())")
_RUN_STARTED_JS = ("(panel) => Array.from(panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))"
                   ".some((p) => /\\[(\\*|\\d+)\\]/.test(p.textContent))")
_EMPTY_OUTPUTS_JS = r"""
(panel) => {
  const cells = Array.from(panel.querySelectorAll('.jp-Cell'));
  return Array.from(panel.querySelectorAll('.jp-OutputArea-output'))
    .filter((o) => !o.classList.contains('lm-mod-hidden') && o.childElementCount === 0 &&
                   ['', 'Loading widget...'].includes(o.textContent.trim()))
    .map((o) => cells.indexOf(o.closest('.jp-Cell')));
}
"""
_IMAGES_READY_JS = ("(panel) => Array.from(panel.querySelectorAll('img.widget-image'))"
                    ".every((i) => i.getAttribute('src') && i.complete && i.naturalWidth > 0)")


@dataclass
class Control:
    """A control of a widget on the page, as found by :meth:`NotebookPage.controls`."""

    id: str  # its data-bt-id on the page
    widget: str  # data-bt-id of the output that holds it
    box: str  # data-bt-id of the widget box it should change
    kind: str  # slider, dropdown, checkbox, togglebuttons, toggle, radio, select, button, number
    description: str
    disabled: bool
    visible: bool

    @property
    def label(self) -> str:
        return f"{self.kind} '{self.description}'"


@dataclass
class Move:
    """One move of a control, and whether the plot or a readout in its box changed."""

    action: str
    changed: bool
    ms: float


@dataclass
class ControlReport:
    """What moving one control did: its moves and the error outputs that appeared meanwhile."""

    control: Control
    moves: list[Move] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    revealed_by: str | None = None  # the move of another control that made it visible
    skipped: str | None = None  # why it was not moved


class NotebookPage:
    """One notebook open in JupyterLab: run it, read its errors, find and move its controls."""

    def __init__(self, browser: Browser, page, path: str):
        self.browser = browser
        self.page = page
        self.path = path
        self.name = Path(path).name
        self.panel = None
        self.panel_id: str | None = None
        self.tab = None
        self.console: list[str] = []  # errors the page logged while this notebook was open
        page.on("console", self._on_console)
        page.on("pageerror", self._on_pageerror)

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.console.append(message.text)

    def _on_pageerror(self, error) -> None:
        self.console.append(f"uncaught: {error}")

    # -- opening and running -----------------------------------------------------------------
    def load(self, timeout_s: float = 90, before_wait=None, in_app: bool = False) -> None:
        """Open the notebook, wait until its tab is the current one and its kernel is idle.

        ``in_app``: open it in the JupyterLab already on the page (File > Open from Path), else load
        JupyterLab at ``/lab/tree/<path>``. ``before_wait()`` runs once the notebook's tab shows.
        """
        opened = False
        if in_app:
            try:
                self.menu("File", "filebrowser:open-path")
                self.page.locator(".jp-Dialog input").fill(self.path)
                self.page.locator(".jp-Dialog .jp-mod-accept").click()
                opened = True
            except Exception:  # fall back on loading the page
                with contextlib.suppress(Exception):
                    self.page.keyboard.press("Escape")
        if not opened:
            url = self.browser.server.url(f"lab/tree/{urllib.parse.quote(self.path)}", reset="")
            self.page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
        tab = self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
        self.tab = tab.filter(has_text=self.name).first
        self.tab.wait_for(timeout=timeout_s * 1000)
        self.panel_id = self.tab.get_attribute("data-id")
        self.tab = self.page.locator(f".lm-DockPanel-tabBar .lm-TabBar-tab[data-id='{self.panel_id}']")
        self.panel = self.page.locator(f"[id='{self.panel_id}']")
        if before_wait is not None:
            before_wait()
        deadline = time.monotonic() + timeout_s
        while not (self.kernel_state() == "idle" and self.is_idle()):
            for text in self.dialogs():
                if text.startswith("Select Kernel"):  # accept the proposed kernel, as a person would
                    self.page.locator(".jp-Dialog .jp-mod-accept").first.click()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: kernel not idle after {timeout_s:.0f} s "
                                   f"(state {self.kernel_state()!r}, dialogs {self.dialogs()})")
            self.page.wait_for_timeout(100)

    def menu(self, menu: str, command: str, timeout_ms: float = 10_000) -> None:
        """Click ``menu`` in the menu bar, then its item that runs ``command`` (a JupyterLab command id)."""
        title = re.compile(rf"^\s*{re.escape(menu)}\s*$")
        self.page.locator(".lm-MenuBar-item", has_text=title).first.click(timeout=timeout_ms)
        self.page.locator(f'li.lm-Menu-item[data-command="{command}"]').click(timeout=timeout_ms)

    def close(self, timeout_ms: float = 10_000) -> bool:
        """Close the notebook's tab, discarding its outputs; True once the tab is gone."""
        self.page.remove_listener("console", self._on_console)
        self.page.remove_listener("pageerror", self._on_pageerror)
        if self.panel is None or self.tab.count() == 0:
            return False
        self.page.keyboard.press("Escape")
        self.tab.locator(".lm-TabBar-tabCloseIcon").click(timeout=timeout_ms)
        discard = self.page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-warn")
        with contextlib.suppress(Exception):  # no dialog when nothing changed
            discard.click(timeout=2000)
        self.tab.wait_for(state="detached", timeout=timeout_ms)
        return not self.dialogs()

    def kernel_state(self) -> str | None:
        """The execution state of this notebook's kernel as the server sees it (None: no kernel)."""
        for session in self.browser.server.api("GET", "sessions") or []:
            if session.get("path") == self.path and session.get("kernel"):
                return session["kernel"].get("execution_state")
        return None

    def is_idle(self) -> bool:
        """The notebook's toolbar shows an idle kernel."""
        return self.panel.locator(IDLE_SELECTOR).count() > 0

    def code_cell_count(self) -> int:
        """Number of code cells in the notebook file."""
        nb = json.loads((self.browser.server.source_root / self.path).read_text(encoding="utf-8"))
        return sum(c["cell_type"] == "code" for c in nb["cells"])

    def prompts(self) -> list[str]:
        """The input prompt of every code cell on the page ('[3]:', '[*]:', '[ ]:')."""
        return self.panel.evaluate(_PROMPTS_JS)

    def run_all(self, timeout_s: float = 150) -> float:
        """Run > Run All Cells; wait until the kernel is idle and no cell is queued; seconds taken.

        Run All stops at a cell that raises: the cells after it keep an empty prompt (the caller checks
        :meth:`prompts` and :meth:`errors`).
        """
        start = time.monotonic()
        for attempt in range(4):  # the first click is sometimes ignored
            if self.dialogs():
                raise RuntimeError(f"{self.name}: a dialog blocks the page: {self.dialogs()}")
            self.menu("Run", "runmenu:run-all")
            try:
                self.page.wait_for_function(_RUN_STARTED_JS, arg=self.panel.element_handle(), timeout=3000)
                break
            except Exception:
                self.page.keyboard.press("Escape")
                if attempt == 3:
                    raise RuntimeError(f"{self.name}: Run All did not start; "
                                       f"dialogs {self.dialogs()}") from None
        deadline = start + timeout_s
        settled = 0
        while settled < 2:  # idle with nothing queued, seen twice in a row
            prompts = self.prompts()
            settled = settled + 1 if self.is_idle() and not any("*" in p for p in prompts) else 0
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: still running after {timeout_s:.0f} s; prompts {prompts}")
            self.page.wait_for_timeout(100)
        self.wait_outputs()
        self.wait_images()
        return time.monotonic() - start

    def empty_outputs(self) -> list[int]:
        """Cells (0-based) with an output that shows nothing or "Loading widget..." (no model yet)."""
        return self.panel.evaluate(_EMPTY_OUTPUTS_JS)

    def wait_outputs(self, timeout_ms: float = 5000) -> None:
        """Wait until no output is empty: a widget view shows its widget or, after ~2 s without its model,
        "Error displaying widget: model not found" (gives up quietly)."""
        with contextlib.suppress(Exception):
            self.page.wait_for_function(f"(panel) => ({_EMPTY_OUTPUTS_JS})(panel).length === 0",
                                        arg=self.panel.element_handle(), timeout=timeout_ms)

    def wait_images(self, timeout_ms: float = 10_000) -> None:
        """Wait until every plot image on the page shows a decoded picture (gives up quietly)."""
        with contextlib.suppress(Exception):
            self.page.wait_for_function(_IMAGES_READY_JS, arg=self.panel.element_handle(), timeout=timeout_ms)

    # -- inspecting --------------------------------------------------------------------------
    def errors(self) -> dict:
        """Error outputs: ``{"errors": [{cell, text}], "warnings": [...]}`` (cell: 0-based index)."""
        return self.page.evaluate(_ERRORS_JS, [self.panel.element_handle(), STDERR_SELECTOR,
                                               list(WIDGET_ERROR_TEXTS)])

    def dialogs(self) -> list[str]:
        """The text of every JupyterLab dialog open on the page."""
        return [t.strip() for t in self.page.locator(".jp-Dialog").all_inner_texts()]

    def describe(self) -> dict:
        """``{"widgets": [...], "controls": [...]}``: the widget outputs and their controls."""
        return self.panel.evaluate(_DESCRIBE_JS)

    def controls(self) -> list[Control]:
        """Every control of every widget on the page, in page order (hidden ones included)."""
        return [Control(**c) for c in self.describe()["controls"]]

    def images(self) -> list[dict]:
        """Every plot image on the page: natural size (0: shows nothing) and whether it is decoded."""
        return self.panel.evaluate(
            "(p) => Array.from(p.querySelectorAll('img.widget-image')).map((i) => "
            "({width: i.naturalWidth, height: i.naturalHeight, complete: i.complete}))")

    def element(self, bt_id: str):
        """The element marked ``data-bt-id=bt_id`` by :meth:`describe`."""
        return self.panel.locator(f"[data-bt-id='{bt_id}']").first

    def snapshot(self, box_id: str) -> str:
        """The plots and readouts of a widget box, to compare after a move."""
        return self.element(box_id).evaluate(_SNAPSHOT_JS)

    def wait_changed(self, box_id: str, before: str, timeout_ms: float = 5000) -> bool:
        """Wait (rAF polling) until a plot or readout in the box differs from ``before``, decoded."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(_CHANGED_JS, arg=[self.element(box_id).element_handle(), before],
                                        polling="raf", timeout=timeout_ms)
            return True
        except PlaywrightTimeout:
            return False

    def settle(self, box_id: str, quiet_ms: float = 80, timeout_ms: float = 10_000) -> bool:
        """Wait until the kernel is idle and the box has not changed for ``quiet_ms`` (one round trip)."""
        return self.element(box_id).evaluate(_SETTLE_JS, [self.panel.element_handle(), quiet_ms, timeout_ms])

    def new_errors(self) -> list[dict]:
        """Error outputs that were not on the page at the last call (all of them at the first)."""
        seen = self.__dict__.setdefault("_seen_errors", set())
        fresh = [e for e in self.errors()["errors"] if (e["cell"], e["text"]) not in seen]
        seen.update((e["cell"], e["text"]) for e in fresh)
        return fresh

    # -- moving controls ---------------------------------------------------------------------
    def exercise_all(self, timeout_ms: float = 5000) -> list[ControlReport]:
        """Move every control of every widget on the page (see :meth:`exercise`).

        A control hidden at first (a widget that shows the sliders of the option picked in a
        dropdown) is moved when a move of another control reveals it; controls never visible or
        disabled come last, with ``skipped`` set.
        """
        done: set[str] = set()
        reports: list[ControlReport] = []
        self.new_errors()  # what was there before any move is not blamed on a control
        for control in self.controls():
            if control.id not in done and control.visible:
                reports += self.exercise(control, done, timeout_ms)
        for control in self.controls():
            if control.id not in done:
                why = "disabled" if control.disabled and control.visible else "never visible"
                reports.append(ControlReport(control, skipped=why))
        return reports

    def exercise(self, control: Control, done: set | None = None, timeout_ms: float = 5000,
                 revealed_by: str | None = None) -> list[ControlReport]:
        """Move ``control`` as a person would, through its range or options, and put it back.

        Slider: focus a handle, press End (Home when it sits at the end), then type the old value back
        into its readout (arrow keys where the readout takes no text). Dropdown, select, radio and
        toggle buttons: pick every other option, then the first one again. Check box, toggle button:
        click twice. Button: click once. Number box: type the value + 1 and Enter, then the old one.
        Controls that a move reveals are moved right then. Returns this control's report, then
        those of the controls it revealed.
        """
        done = set() if done is None else done
        done.add(control.id)
        report = ControlReport(control, revealed_by=revealed_by)
        if control.disabled:
            report.skipped = "disabled"
            return [report]
        reports = [report]
        if "_seen_errors" not in self.__dict__:
            self.new_errors()
        watch = control.kind != "slider"  # options and clicks may show other controls
        visible = set()
        if watch:
            visible = {c.id for c in self.controls() if c.widget == control.widget and c.visible}
        for action, do in self._moves(control, timeout_ms):
            before = self.snapshot(control.box)
            t0 = time.perf_counter()
            if do() is False:  # nothing to do: already there
                continue
            changed = self.wait_changed(control.box, before, timeout_ms)
            report.moves.append(Move(action, changed, (time.perf_counter() - t0) * 1000))
            if watch:
                now_visible = {c.id: c for c in self.controls() if c.widget == control.widget and c.visible}
                revealed = [c for i, c in now_visible.items() if i not in visible and i not in done]
                visible = set(now_visible)
                if revealed:
                    self.settle(control.box)
                    report.errors += self.new_errors()
                    for other in revealed:
                        if other.id not in done:
                            reports += self.exercise(other, done, timeout_ms, f"{control.label} {action}")
        self.settle(control.box)
        report.errors += self.new_errors()
        return reports

    def _moves(self, control: Control, timeout_ms: float):
        """(action, do) pairs for :meth:`exercise`; ``do()`` returns False when there was nothing to do."""
        el = self.element(control.id)
        kind = control.kind
        if kind == "slider":
            handles = el.locator(".noUi-handle")
            n = handles.count()
            for h in range(n):
                state = self.slider_state(control, h)
                key = "Home" if state["now"] >= state["max"] else "End"
                name = f"handle {h} " if n > 1 else ""
                yield f"{name}{key}", lambda h=h, key=key: self._press(handles.nth(h), key, timeout_ms)
                yield (f"{name}back to {state['text']}",
                       lambda h=h, st=state: self.put_slider_back(control, h, st["text"], st["now"]))
        elif kind in ("dropdown", "select"):
            sel = el.locator("select")
            labels = sel.evaluate("(s) => Array.from(s.options).map((o) => o.label)")
            current = sel.evaluate("(s) => s.selectedIndex")
            for i in _option_order(len(labels), current):
                label = labels[i].replace("\xa0", " ")
                yield f"option '{label}'", lambda i=i: sel.select_option(index=i, timeout=timeout_ms) and None
        elif kind in ("togglebuttons", "radio"):
            group = kind == "togglebuttons"
            items = el.locator("button.widget-toggle-button" if group else "input[type=radio]")
            labels = (items.all_inner_texts() if group
                      else el.locator(".widget-radio-box label").all_inner_texts())
            active = "(b) => b.classList.contains('mod-active')" if group else "(b) => b.checked"
            states = [items.nth(i).evaluate(active) for i in range(items.count())]
            current = states.index(True) if True in states else -1
            for i in _option_order(len(states), current):
                label = labels[i].replace("\xa0", " ").strip() if i < len(labels) else str(i)
                yield f"option '{label}'", lambda i=i: items.nth(i).click(timeout=timeout_ms)
        elif kind in ("checkbox", "toggle"):
            target = el.locator("input[type=checkbox]") if kind == "checkbox" else el
            yield "click", lambda: target.click(timeout=timeout_ms)
            yield "click back", lambda: target.click(timeout=timeout_ms)
        elif kind == "button":
            yield "click", lambda: el.click(timeout=timeout_ms)
        elif kind == "number":
            box = el.locator("input[type=number]")
            old, top = box.evaluate("(i) => [i.value, i.max]")
            new = float(old) + 1 if not top or float(old) + 1 <= float(top) else float(old) - 1
            new = str(int(new)) if new == int(new) and "." not in old else str(new)
            yield f"type {new}", lambda: self._type_number(box, new, timeout_ms)
            yield f"type {old} back", lambda: self._type_number(box, old, timeout_ms)

    def _type_number(self, box, text: str, timeout_ms: float) -> None:
        """Type ``text`` into a number box and press Enter, as a person would."""
        box.click(timeout=timeout_ms)
        self.page.keyboard.press("ControlOrMeta+A")
        self.page.keyboard.type(text)
        self.page.keyboard.press("Enter")

    @staticmethod
    def _press(handle, key: str, timeout_ms: float) -> None:
        handle.focus(timeout=timeout_ms)
        handle.press(key, timeout=timeout_ms)

    def slider_readout(self, control: Control) -> str:
        """The text of a slider's readout (its value as shown)."""
        readout = self.element(control.id).locator(".widget-readout")
        return readout.first.inner_text().strip() if readout.count() else ""

    def slider_state(self, control: Control, h: int) -> dict:
        """``{text, editable, now}``: a slider's readout text, whether it takes typing, handle h's value."""
        return self.element(control.id).evaluate(_SLIDER_STATE_JS, h)

    def put_slider_back(self, control: Control, h: int, text: str, value: float, max_presses: int = 400):
        """Put handle ``h`` of a slider back: type its old readout ``text`` and Enter, as a person would;
        then arrow keys until the handle's ``aria-valuenow`` is ``value`` (the readout rounds, and a
        selection slider ignores typed text). False when it is there already."""
        state = self.slider_state(control, h)
        if state["text"] == text and state["now"] == value:
            return False
        if text and state["editable"]:
            self.element(control.id).locator(".widget-readout").first.click()
            self.page.keyboard.press("ControlOrMeta+A")
            self.page.keyboard.type(text)
            self.page.keyboard.press("Enter")
            state = self.slider_state(control, h)
        handle = self.element(control.id).locator(".noUi-handle").nth(h)
        for _ in range(max_presses):
            now = state["now"]
            if abs(now - value) <= 1e-9 * max(1.0, abs(value)):
                break
            handle.press("ArrowRight" if now < value else "ArrowLeft")
            state = self.slider_state(control, h)
            if state["now"] == now or (state["now"] - value) * (now - value) < 0:
                break  # stuck, or as close as the steps allow
        return None

    # -- pictures ----------------------------------------------------------------------------
    def main_widget(self, builds: str | None = None):
        """The first widget output that shows a plot (None when the notebook has none); with ``builds``,
        the first one whose cell's code calls ``builds(``."""
        cells = json.loads((self.browser.server.source_root / self.path).read_text(encoding="utf-8"))["cells"]
        for w in self.describe()["widgets"]:
            code = "".join(cells[w["cell"]]["source"]) if 0 <= w["cell"] < len(cells) else ""
            if w["images"] and (builds is None or f"{builds}(" in code):
                return self.element(w["id"])
        return None


def _option_order(n: int, current: int) -> list[int]:
    """Every other option, then the current one again (empty when there is nothing to choose)."""
    if n < 2:
        return []
    others = [i for i in range(n) if i != current]
    return others + ([current] if current >= 0 else [])
