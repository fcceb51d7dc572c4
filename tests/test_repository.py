"""Repository promises: clean notebooks, binder pins in step with requirements, ruff, the net guard."""

import json
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def pins(path: Path) -> dict[str, str]:
    """name -> version for every ``name==version`` line of a requirements file."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s;#]+)", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_there_is_a_start_here_notebook():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_start_here.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", "kernelspec must be python3"
    assert "widgets" not in nb["metadata"], "widget state must not be committed"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {i} has outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"


def test_binder_pins_match_requirements():
    main = pins(ROOT / "requirements.txt")
    binder = pins(ROOT / "binder" / "requirements.txt")
    assert binder.pop("torch").split("+")[0] == main.pop("torch")  # only the build tag may differ
    for name, version in binder.items():
        assert main.get(name) == version, f"binder pins {name}=={version}, requirements.txt {main.get(name)}"
    for name in ("jupyterlab", "ipywidgets"):
        assert int(binder[name].split(".")[0]) >= (4 if name == "jupyterlab" else 8)
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    text = "\n".join(line.split("#")[0] for line in lines)
    assert "--extra-index-url" in text and "/whl/cpu" in text, "binder must use the CPU wheel index"
    assert "-e ." not in text, "install course_utils in postBuild, not -e . (defeats Binder's cache)"
    post = (ROOT / "binder" / "postBuild").read_text()
    assert post.startswith("#!") and "set -e" in post and "pip install" in post
    assert (ROOT / "binder" / "runtime.txt").read_text().strip().startswith("python-3.11")


def test_requirements_pin_every_line_exactly():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and line != "-e .":
            assert "==" in line, f"unpinned requirement: {line}"


def test_readme_names_the_test_and_benchmark_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python -m pytest" in readme
    assert "python benchmarks/run.py" in readme
    assert "pip install -r requirements.txt" in readme
    assert "mybinder.org/v2/gh/" in readme and "urlpath=lab/tree/notebooks/00_start_here.ipynb" in readme
    for nb in NOTEBOOKS:
        assert nb.stem in readme, f"README's notebook table lacks {nb.name}"


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "course_utils", "tests",
                             "notebooks", "homework", "benchmarks", "conftest.py"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_course_utils_imports_from_any_directory(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import course_utils, sys; print(course_utils.__file__)"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).parent == ROOT / "course_utils"


# -- the network guard ---------------------------------------------------------------------------

def test_guard_allows_loopback_only():
    import netguard

    for host in ("127.0.0.1", "127.8.9.1", "::1", "localhost", b"localhost"):
        assert netguard.is_allowed(host), host
    for host in ("example.invalid", "8.8.8.8", "10.0.0.1", "2001:db8::1", "files.pythonhosted.invalid"):
        assert not netguard.is_allowed(host), host


def test_downloads_fail_fast_in_this_process():
    # .invalid never resolves (RFC 2606): the guard refuses the look-up before any packet is sent.
    with pytest.raises(urllib.error.URLError, match="network blocked"):
        urllib.request.urlopen("http://example.invalid/data.csv", timeout=1)
    with pytest.raises(ConnectionRefusedError, match="network blocked"):
        socket.create_connection(("example.invalid", 80), timeout=1)


def test_loopback_still_works():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        client = socket.create_connection(server.getsockname(), timeout=2)
        client.close()
    finally:
        server.close()


def test_child_python_processes_are_guarded_too(tmp_path):
    code = ("import urllib.request\n"
            "try:\n    urllib.request.urlopen('http://example.invalid/', timeout=1)\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True).stdout
    assert "network blocked" in out
