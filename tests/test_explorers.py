"""Every explorer of the catalogue, built the way the notebooks build it: it draws at every control's
extremes, blits, has a static PNG, and the notebook it names really shows it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.explorers import EXPLORERS, Explorer
from course_utils.explorers.base import PlotWidget, sweep_controls

ROOT = Path(__file__).resolve().parents[1]
COMPUTE_MODULES = ("cross_entropy", "losses", "metrics", "schedules", "optimizers", "autograd_graph",
                   "training", "data", "plotting", "reproducibility", "checks")


@pytest.fixture(params=list(EXPLORERS), scope="module")
def entry(request) -> Explorer:
    return EXPLORERS[request.param]


@pytest.fixture
def widget(entry) -> PlotWidget:
    return entry()


def test_entry_names_a_notebook_that_imports_and_shows_the_explorer(entry):
    path = ROOT / "notebooks" / f"{entry.notebook}.ipynb"
    assert path.exists(), f"{entry.name}: no notebook {path.name}"
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                     if c["cell_type"] == "code")
    assert f"{entry.class_name}(" in code, f"{path.name} never builds {entry.class_name}"
    imports = re.findall(r"from course_utils\.explorers import (\([^)]*\)|[^\n]*)", code)
    assert any(re.search(rf"\b{entry.class_name}\b", names) for names in imports), \
        f"{path.name} does not import {entry.class_name} from course_utils.explorers"


def test_every_control_at_its_extremes_renders(widget):
    assert isinstance(widget, PlotWidget)
    assert widget.last_error is None, widget.last_error
    assert widget.png().startswith(b"\x89PNG"), "the first render is part of building an explorer"
    assert sweep_controls(widget) == []
    assert widget.last_error is None


def test_moves_reuse_the_cached_background(widget):
    # the <= 20 ms budget needs moves that change no axes limits to reuse the cached background:
    # with no control moved, a refresh must not draw the static part again
    background = widget._background
    assert background is not None
    widget.refresh()
    assert widget._background is background


def test_static_png_fallback_is_the_current_plot(widget):
    import base64

    bundle = widget._repr_mimebundle_()
    json.dumps(bundle)
    assert base64.b64decode(bundle["image/png"]) == widget.png()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_catalogue_covers_every_explorer_class_in_the_package():
    import importlib
    import inspect
    import pkgutil

    import course_utils.explorers as package

    found = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"course_utils.explorers.{info.name}")
        found |= {name for name, obj in vars(module).items()
                  if inspect.isclass(obj) and issubclass(obj, PlotWidget) and obj is not PlotWidget
                  and obj.__module__ == module.__name__}
    assert found == {e.class_name for e in EXPLORERS.values()}


def test_unknown_attribute_of_the_package_is_an_attribute_error():
    import course_utils.explorers as package

    with pytest.raises(AttributeError, match="NoSuchExplorer"):
        package.NoSuchExplorer  # noqa: B018


@pytest.mark.parametrize("module", COMPUTE_MODULES)
def test_compute_modules_do_not_import_ipywidgets(module):
    # a fresh interpreter: what importing the module alone pulls in
    code = (f"import sys, course_utils.{module}; "
            "print(sorted(m for m in ('ipywidgets', 'IPython') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", f"course_utils.{module} imports {out.stdout.strip()}"


def test_importing_the_catalogue_does_not_import_torch():
    code = "import sys, course_utils.explorers; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    # course_utils/__init__ imports reproducibility (torch, for set_seed): torch is expected, sklearn not
    assert out.stdout.split()[1] == "False"
