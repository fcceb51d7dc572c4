"""The built course site in headless Chromium, from ``file://`` and from a static server on 127.0.0.1.

Every page of the site built by ``python -m course_utils.site build`` (the ``built_site`` fixture of
``tests/conftest.py``, one build per session) is opened from the folder: no console error, no
request outside the site's folder (anything else is aborted and reported), a first load of at most
5 MB, and no serious or critical violation found by axe-core (``axe-playwright-python``). Every
control of every pre-rendered explorer is then moved with the keyboard -- a range by arrow keys, a
drop-down, a radio group, a check box -- and the image and readout must change, the new frame be
decoded and have alt text; the page-side time from the input event to the decoded frame is the
frame-swap time (median <= 16 ms). At 375 px every page fits the screen's width.

Skipped with the reason when Chromium or playwright is missing, unless ``COURSE_REQUIRE_BROWSER=1``.
With ``COURSE_SCREENSHOT_DIR=<folder>`` the run saves ``site-desktop.png`` and ``site-phone.png``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import statistics
import tempfile
import threading
import urllib.parse
from pathlib import Path

import pytest

from tests.browser.harness import CHROMIUM_FLAGS, REQUIRE_ENV, browser_required, browser_unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
PAGES = (["index.html"] + [f"notebooks/{p.stem}.html" for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
         + [f"homework/{p.stem}.html" for p in sorted((ROOT / "homework" / "release").glob("*.ipynb"))]
         + ["search.html", "genindex.html"])
# the Korean edition under ko/: the same pages in Korean (course_utils.translation), same checks
PAGES += ["ko/index.html"] + [f"ko/{p}" for p in PAGES if p.startswith(("notebooks/", "homework/"))]
PLAYER_PAGES = [p for p in PAGES if p.startswith(("notebooks/", "ko/notebooks/"))]
FIRST_LOAD_BYTES = 5_000_000
SWAP_MS = 16.0
DESKTOP = {"width": 1300, "height": 900}
PHONE = {"width": 375, "height": 812}
SCREENSHOT_PAGE = "notebooks/02_special_losses.html"
_SWAPS: list[float] = []
_FIRST_LOADS: dict[str, int] = {}


@pytest.fixture(scope="module")
def chromium():
    """A persistent Chromium context with a fresh profile (Debian's chromium, never a download)."""
    reason = browser_unavailable_reason()
    if reason:
        if browser_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but the site's browser test cannot run: {reason}", pytrace=False)
        pytest.skip(f"browser test skipped: {reason}")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="course-site-chromium-")
    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_FLAGS,
            viewport=DESKTOP, device_scale_factor=1, timeout=60_000)
        context.set_default_timeout(20_000)
        yield context
        context.close()
    finally:
        pw.stop()
        shutil.rmtree(profile, ignore_errors=True)


class SitePage:
    """One page of the site, watched: console errors, requests, and requests outside ``allowed``."""

    def __init__(self, context, url: str, allowed: str, viewport=DESKTOP):
        self.page = context.new_page()
        self.page.set_viewport_size(viewport)
        self.allowed = allowed
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.files: set[str] = set()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url} {r.failure}"))
        self.page.on("request", self._request)
        self.page.route("**/*", self._route)  # http(s): only the site's own server may answer
        self.page.goto(url, wait_until="load", timeout=60_000)
        self.page.wait_for_load_state("networkidle", timeout=60_000)
        self.page.wait_for_function("() => !window.MathJax || !MathJax.startup || "
                                    "MathJax.startup.promise.then(() => true)")

    def _request(self, request) -> None:
        url = request.url
        if url.startswith("data:"):
            return
        if not url.startswith(self.allowed):
            self.outside.append(url)
        elif url.startswith("file://"):
            self.files.add(urllib.parse.unquote(urllib.parse.urlparse(url).path))

    def _route(self, route) -> None:
        if route.request.url.startswith(self.allowed):
            route.continue_()
        else:
            route.abort()

    def problems(self) -> list[str]:
        out = [f"console: {e}" for e in self.errors]
        return out + [f"request outside the site: {u}" for u in self.outside]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.page.close()


def _site_url(site: Path) -> str:
    return site.resolve().as_uri() + "/"


@contextlib.contextmanager
def _open(context, site: Path, rel: str, viewport=DESKTOP):
    page = SitePage(context, _site_url(site) + rel, _site_url(site), viewport)
    try:
        yield page
    finally:
        page.close()


# ---------------------------------------------------------------------------------------------
# Every page: clean load, size, accessibility
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", PAGES)
def test_page_loads_alone_and_passes_axe(chromium, built_site, rel):
    from axe_playwright_python.sync_playwright import Axe

    site = built_site[0]
    with _open(chromium, site, rel) as p:
        first = sum(os.path.getsize(f) for f in p.files if os.path.isfile(f))
        _FIRST_LOADS[rel] = first
        problems = p.problems()
        assert first <= FIRST_LOAD_BYTES, f"{rel}: first load {first / 1e6:.2f} MB"
        imgs = p.page.eval_on_selector_all("img", "(is) => is.filter((i) => !i.getAttribute('alt'))"
                                                  ".map((i) => i.src)")
        assert not imgs, f"{rel}: images without alt text: {imgs[:3]}"
        result = Axe().run(p.page)
        bad = [v for v in result.response["violations"] if v.get("impact") in ("serious", "critical")]
        problems += [f"axe {v['id']} ({v['impact']}): {v['help']} at "
                     f"{[n['target'] for n in v['nodes']][:3]}" for v in bad]
    assert not problems, f"{rel}:\n  " + "\n  ".join(problems)


def test_the_language_switch_opens_the_twin_page_and_back(chromium, built_site):
    site = built_site[0]
    with _open(chromium, site, "notebooks/02_special_losses.html") as p:
        p.page.click("nav.cu-lang a")
        p.page.wait_for_url("**/ko/notebooks/02_special_losses.html")
        assert p.page.eval_on_selector("h1", "(h) => h.textContent").count("손실") >= 1
        assert p.page.evaluate("() => document.documentElement.lang") == "ko"
        p.page.click("nav.cu-lang a")
        p.page.wait_for_url("**/notebooks/02_special_losses.html")
        assert "/ko/" not in p.page.url


@pytest.mark.parametrize("rel", PAGES)
def test_page_fits_a_phone(chromium, built_site, rel):
    site = built_site[0]
    with _open(chromium, site, rel, PHONE) as p:
        width = p.page.evaluate("() => document.documentElement.scrollWidth")
        players = p.page.eval_on_selector_all("figure.cu-player", "(fs) => fs.map((f) => "
                                              "f.getBoundingClientRect().right)")
        shot_dir = os.environ.get("COURSE_SCREENSHOT_DIR")
        if shot_dir and rel == SCREENSHOT_PAGE:
            p.page.locator("figure.cu-player").first.scroll_into_view_if_needed()
            p.page.evaluate("() => window.scrollBy(0, -60)")
            p.page.wait_for_function("() => { const i = document.querySelector('figure.cu-player img');"
                                     " return i && i.complete && i.naturalWidth > 0; }", timeout=10_000)
            p.page.screenshot(path=str(Path(shot_dir) / "site-phone.png"))
        assert not p.problems(), p.problems()
    assert width <= PHONE["width"] + 1, f"{rel} scrolls sideways at 375 px ({width} px wide)"
    assert all(r <= PHONE["width"] + 1 for r in players), f"{rel}: a player is wider than the phone"


# ---------------------------------------------------------------------------------------------
# Every control of every player
# ---------------------------------------------------------------------------------------------

_STATE = """(f) => ({src: f.querySelector('img.cu-img').getAttribute('src'),
  alt: f.querySelector('img.cu-img').alt, readout: f.querySelector('.cu-readout').innerHTML,
  ok: f.querySelector('img.cu-img').complete && f.querySelector('img.cu-img').naturalWidth > 0})"""
_LISTEN = """(f) => { f.cuEvents = f.cuEvents || [];
  if (!f.cuListening) { f.addEventListener('cu-frame', (e) => f.cuEvents.push(e.detail)); f.cuListening = 1; }
  return f.cuEvents.length; }"""
# The key of the setting the inputs show now (the player moves them at once, the frame follows).
_KEY = """(f) => JSON.parse(f.querySelector('script.cu-manifest').textContent).controls
  .filter((c) => c.kind !== 'button').map((c) => {
    const b = f.querySelector('[data-control="' + c.name + '"]');
    if (c.kind === 'checkbox') return b.querySelector('input').checked ? 1 : 0;
    if (c.kind === 'radio') return Number(b.querySelector('input:checked').value);
    return Number(b.querySelector('input, select').value); }).join('.')"""


class PlayerDriver:
    def __init__(self, page, figure):
        self.page, self.fig = page, figure
        self.moves: list[str] = []
        self.problems: list[str] = []
        self.done: set[str] = set()

    def state(self):
        return self.fig.evaluate(_STATE)

    def controls(self):
        return self.fig.evaluate("(f) => Array.from(f.querySelectorAll('[data-control]')).map((c) => "
                                 "({name: c.dataset.control, hidden: c.hidden, "
                                 "kind: c.querySelector('input[type=range]') ? 'range' : "
                                 "c.querySelector('select') ? 'select' : "
                                 "c.querySelector('input[type=radio]') ? 'radio' : "
                                 "c.querySelector('input[type=checkbox]') ? 'checkbox' : 'button'}))")

    def move(self, name: str, what: str, do, check: bool = True) -> None:
        """Do a move, wait for the frame of the setting the inputs then show; check that it changed."""
        n = self.fig.evaluate(_LISTEN)
        before = self.state()
        do()
        key = self.fig.evaluate(_KEY)
        try:
            self.page.wait_for_function("([f, n, key]) => f.cuEvents.slice(n).some((e) => e.key === key)",
                                        arg=[self.fig.element_handle(), n, key], timeout=10_000)
        except Exception:
            self.problems.append(f"{name} {what}: no frame for setting {key}")
            return
        after = self.state()
        events = self.fig.evaluate("(f, n) => f.cuEvents.slice(n)", n)
        if check:
            _SWAPS.append(next(e["ms"] for e in events if e["key"] == key))
            self.moves.append(f"{name} {what}")
            if after["src"] == before["src"] and after["readout"] == before["readout"]:
                self.problems.append(f"{name} {what}: neither the image nor the readout changed")
        if not after["ok"] or not after["alt"]:
            self.problems.append(f"{name} {what}: the frame is not shown or has no alt text")

    def exercise(self, name: str, kind: str) -> None:
        if name in self.done:
            return
        self.done.add(name)
        box = self.fig.locator(f'[data-control="{name}"]')
        if kind == "range":
            el = box.locator("input")
            top, now = int(el.get_attribute("max")), int(el.input_value())
            key = "ArrowLeft" if now == top else "ArrowRight"
            far = "Home" if now == top else "End"
            self.move(name, key, functools.partial(self._press, el, key))
            if int(el.input_value()) not in (0, top):  # (else the far end is where the step went)
                self.move(name, far, functools.partial(self._press, el, far))
            back = "Home" if far == "End" else "End"
            self.move(name, back, functools.partial(self._press, el, back))
            steps = now if back == "Home" else top - now
            if steps:
                self.move(name, "back to its default", functools.partial(
                    self._presses, el, "ArrowRight" if back == "Home" else "ArrowLeft", steps), check=False)
        elif kind == "checkbox":
            el = box.locator("input")
            for what in ("Space", "Space back"):
                self.move(name, what, functools.partial(self._press, el, "Space"))
        elif kind in ("select", "radio"):
            n = box.locator("option").count() if kind == "select" else box.locator("input").count()
            start = self._index(box, kind)
            for target in [j for j in range(n) if j != start] + [start]:
                hidden = {c["name"] for c in self.controls() if c["hidden"]}
                self.move(name, f"option {target}", functools.partial(self._choose, box, kind, target))
                for other in self.controls():  # the controls this option has just shown
                    if other["name"] in hidden and not other["hidden"] and other["kind"] != "button":
                        self.exercise(other["name"], other["kind"])
            if self._index(box, kind) != start:
                self.problems.append(f"{name}: could not go back to option {start}")

    def _choose(self, box, kind: str, target: int) -> None:
        """Reach option ``target`` with arrow keys, as a keyboard user does."""
        for _ in range(20):
            now = self._index(box, kind)
            if now == target:
                return
            el = box.locator("select") if kind == "select" else box.locator("input:checked")
            if kind == "select":
                self._press(el, "ArrowDown" if now < target else "ArrowUp")
            else:
                self._press(el, "ArrowRight" if now < target else "ArrowLeft")

    @staticmethod
    def _index(box, kind: str) -> int:
        if kind == "select":
            return box.locator("select").evaluate("(s) => s.selectedIndex")
        return box.evaluate("(b) => Array.from(b.querySelectorAll('input')).findIndex((i) => i.checked)")

    @staticmethod
    def _press(el, key: str) -> None:
        el.focus()
        el.press(key)

    @staticmethod
    def _presses(el, key: str, n: int) -> None:
        el.focus()
        for _ in range(n):
            el.press(key)


@pytest.mark.parametrize("rel", PLAYER_PAGES)
def test_every_control_of_every_player_swaps_frames(chromium, built_site, rel):
    site = built_site[0]
    problems: list[str] = []
    with _open(chromium, site, rel) as p:
        figures = p.page.locator("figure.cu-player")
        assert figures.count() >= 1
        for i in range(figures.count()):
            fig = figures.nth(i)
            fig.scroll_into_view_if_needed()
            name = fig.get_attribute("data-player")
            driver = PlayerDriver(p.page, fig)
            first = driver.controls()
            for c in first:
                if not c["hidden"] and c["kind"] != "button":
                    driver.exercise(c["name"], c["kind"])
            never = [c["name"] for c in first if c["kind"] != "button" and c["name"] not in driver.done]
            problems += [f"{name}: {x}" for x in driver.problems]
            problems += [f"{name}: control {x} was never shown" for x in never]
            if not driver.moves:
                problems.append(f"{name}: nothing to move")
        problems += p.problems()
        shot_dir = os.environ.get("COURSE_SCREENSHOT_DIR")
        if shot_dir and rel == SCREENSHOT_PAGE:
            figures.first.scroll_into_view_if_needed()
            p.page.evaluate("() => window.scrollBy(0, -120)")
            p.page.screenshot(path=str(Path(shot_dir) / "site-desktop.png"))
    assert not problems, f"{rel}:\n  " + "\n  ".join(problems[:30])


def test_frame_swaps_are_fast():
    if not _SWAPS:
        pytest.skip("no frame was swapped (the player tests did not run)")
    swaps = sorted(_SWAPS)
    median = statistics.median(swaps)
    p90 = swaps[int(0.9 * (len(swaps) - 1))]
    print(f"\nframe swaps: {len(swaps)}, median {median:.1f} ms, 90th percentile {p90:.1f} ms, "
          f"max {swaps[-1]:.1f} ms; first loads: "
          + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in _FIRST_LOADS.items()))
    assert median <= SWAP_MS, f"median frame swap {median:.1f} ms; allowed: {SWAP_MS} ms"


# ---------------------------------------------------------------------------------------------
# From a static host
# ---------------------------------------------------------------------------------------------

def test_site_works_from_a_static_server(chromium, built_site):
    site = built_site[0]
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems = []
    try:
        for rel in ("index.html", PLAYER_PAGES[0]):
            page = SitePage(chromium, base + rel, base)
            try:
                if rel in PLAYER_PAGES:
                    fig = page.page.locator("figure.cu-player").first
                    fig.scroll_into_view_if_needed()
                    driver = PlayerDriver(page.page, fig)
                    c = next(c for c in driver.controls() if not c["hidden"] and c["kind"] != "button")
                    driver.exercise(c["name"], c["kind"])
                    problems += driver.problems
                    if not driver.moves:
                        problems.append("nothing moved")
                problems += page.problems()
            finally:
                page.close()
    finally:
        server.shutdown()
        server.server_close()
    assert not problems, problems
