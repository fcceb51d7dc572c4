"""Screenshots of each notebook's main widget as JupyterLab shows it, for the README.

    python -m tests.browser.screenshots                 # every notebook -> docs/screenshots/<notebook>.png
    python -m tests.browser.screenshots notebooks/02_special_losses.ipynb --out /tmp/shots

The main widget is the first widget output of the notebook that shows a plot, at its default settings
right after Run All -- or, for a notebook listed in :data:`SHOWCASE`, the explorer named there. Runs
JupyterLab and headless Chromium like the browser test (``harness.py``); the browser test saves the same
pictures when ``COURSE_SCREENSHOT_DIR`` is set. """

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python tests/browser/screenshots.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.browser.harness import ROOT, browser_unavailable_reason, lab_session, notebooks  # noqa: E402

OUT_DIR = ROOT / "docs" / "screenshots"
#: notebook stem -> the explorer class its README picture shows, when it is not the notebook's first one
SHOWCASE = {"03_optimizers_and_lr_schedules": "LRScheduleExplorer"}
PAD = 8

# The area the widget's content covers (leaf elements and text), in viewport pixels: a box widget is
# as wide as the notebook, its content usually is not.
_CONTENT_RECT_JS = r"""
(out) => {
  const root = out.querySelector('.jupyter-widgets') || out;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const add = (r) => {
    if (r.width <= 0 || r.height <= 0) return;
    x0 = Math.min(x0, r.left); y0 = Math.min(y0, r.top);
    x1 = Math.max(x1, r.right); y1 = Math.max(y1, r.bottom);
  };
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  for (let n = walker.currentNode; n; n = walker.nextNode()) {
    if (n.nodeType === Node.TEXT_NODE) {
      if (!n.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      add(range.getBoundingClientRect());
    } else if (['IMG', 'SELECT', 'BUTTON', 'INPUT'].includes(n.tagName) ||
               n.classList.contains('noUi-target') || n.childElementCount === 0) {
      const style = getComputedStyle(n);
      if (style.visibility !== 'hidden' && style.display !== 'none') add(n.getBoundingClientRect());
    }
  }
  if (x0 === Infinity) return null;
  // only what the output and the notebook's scrolling area show (wide content may scroll sideways)
  for (const el of [out, out.closest('.jp-WindowedPanel-outer')]) {
    if (!el) continue;
    const r = el.getBoundingClientRect();
    x0 = Math.max(x0, r.left); y0 = Math.max(y0, r.top);
    x1 = Math.min(x1, r.right); y1 = Math.min(y1, r.bottom);
  }
  return {x: x0, y: y0, width: x1 - x0, height: y1 - y0};
}
"""

# The notebook's scrolling area (what it shows of the cells) is at least this tall (after a resize).
_SCROLLER_HEIGHT_JS = r"""
([out, need]) => {
  const scroller = out.closest('.jp-WindowedPanel-outer') || out.closest('.jp-Notebook');
  return !scroller || scroller.getBoundingClientRect().height >= need;
}
"""


def save_main_widget(nb, path: Path) -> Path | None:
    """Save a PNG of the main widget of an open, run ``harness.NotebookPage``; None if it has none."""
    cls = SHOWCASE.get(Path(nb.name).stem)
    out = nb.main_widget(builds=cls) if cls else nb.main_widget()
    if out is None:
        return None
    nb.wait_images()
    page = nb.page
    size = dict(page.viewport_size)
    try:
        out.scroll_into_view_if_needed()
        rect = out.evaluate(_CONTENT_RECT_JS)
        if rect is None:
            return None
        # a page tall enough for the notebook's scrolling area to show the whole widget
        need = int(rect["height"]) + 2 * PAD + 10
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], need + 400)})
        page.wait_for_function(_SCROLLER_HEIGHT_JS, arg=[out.element_handle(), need], timeout=10_000)
        out.evaluate("(o) => o.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
        rect = out.evaluate(_CONTENT_RECT_JS)
        view = page.viewport_size
        x, y = max(0, rect["x"] - PAD), max(0, rect["y"] - PAD)
        clip = {"x": x, "y": y, "width": min(view["width"] - x, rect["width"] + 2 * PAD),
                "height": min(view["height"] - y, rect["height"] + 2 * PAD)}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.mouse.move(0, 0)  # no hover highlight in the picture
        page.screenshot(path=str(path), clip=clip, animations="disabled", caret="hide")
        return path
    finally:
        page.set_viewport_size(size)


def take_screenshots(paths=None, out_dir: Path = OUT_DIR) -> list[Path]:
    """Open each notebook, Run All, save its main widget as ``out_dir/<notebook stem>.png``."""
    paths = [Path(p).resolve() for p in paths] if paths else notebooks()
    saved = []
    with lab_session() as (_server, browser):
        for nb_path in paths:
            with browser.open_notebook(nb_path) as nb:
                nb.run_all()
                errors = nb.errors()["errors"]
                if errors:
                    print(f"{nb_path.name}: error output, screenshot skipped:\n{errors[0]['text'][-800:]}")
                    continue
                shot = save_main_widget(nb, Path(out_dir) / f"{nb_path.stem}.png")
                print(f"{nb_path.name}: {shot if shot else 'no widget with a plot'}")
                if shot:
                    saved.append(shot)
    return saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to shoot (default: all in notebooks/)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"folder for the PNGs (default {OUT_DIR})")
    args = parser.parse_args(argv)
    reason = browser_unavailable_reason()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 2
    take_screenshots(args.notebooks or None, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
