"""The sandbox a submission runs in (course_utils.grading.sandbox): what it shows, what it stops, and what
the grader says when there is none. The probes run a bare Python (no torch) inside, so they take a second.

Without a working bubblewrap these tests are skipped, with the reason; ``COURSE_REQUIRE_SANDBOX=1`` (CI) turns
the skip into a failure.
"""

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from course_utils.grading import sandbox
from course_utils.grading.cli import main
from course_utils.grading.release import release

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bwrap():
    problem = sandbox._probe()
    if problem:
        if os.environ.get("COURSE_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"COURSE_REQUIRE_SANDBOX=1 but {problem}")
        pytest.skip(problem)


def inside(code: str, tmp_path: Path, *args: str, **kwargs) -> dict:
    """Run ``code`` (a bare Python, no site) in a sandbox; it prints one JSON object."""
    script = tmp_path / "probe.py"
    script.write_text(code, encoding="utf-8")
    cmd = sandbox.command([sys.executable, "-S", "/grading/probe.py", *args], files={"probe.py": script},
                          guard_fd=None, env={"PATH": "/usr/bin:/bin"}, **kwargs)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_readable_paths_are_the_python_installation_and_the_course_package_only():
    paths = [Path(p) for p in sandbox.readable_paths()]
    expected = {Path("/usr"), Path(os.path.realpath(sys.prefix)), Path(os.path.realpath(sys.base_prefix)),
                ROOT / "course_utils"}
    for path in expected:
        assert any(path == p or p in path.parents for p in paths), (path, paths)
    for secret in (ROOT / "homework", ROOT / "homework" / "keys", ROOT / "tests", Path.home(), Path("/etc")):
        assert not any(p == secret or p in secret.parents for p in paths), (secret, paths)


def test_the_command_unshares_everything_and_binds_read_only(tmp_path):
    cmd = sandbox.command(["true"], files={"a.ipynb": tmp_path / "a.ipynb"}, guard_fd=5, env={"X": "1"})
    assert cmd[0] == "bwrap" and cmd[-2:] == ["--", "true"]
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                 "--clearenv"):
        assert flag in cmd
    assert "--share-net" not in cmd and "--bind" not in cmd  # no network, nothing writable from the host
    assert cmd[cmd.index("--cap-drop") + 1] == "ALL"
    binds = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--ro-bind"]
    assert set(binds) - {"/usr", str(tmp_path / "a.ipynb")} <= set(sandbox.readable_paths()) | {
        str(p) for p in (Path("/lib"), Path("/lib64"), Path("/bin"), Path("/sbin"), Path("/lib32"))}
    assert cmd[cmd.index("--file") + 1:cmd.index("--file") + 3] == ["5", sandbox.GUARD_FILE]


PROBE = r'''
import json, os, socket, sys
out = {"root": sorted(os.listdir("/")), "uid": os.getuid(), "home": os.environ.get("HOME")}
def attempt(name, fn):
    try:
        out[name] = repr(fn())[:200]
    except Exception as err:
        out[name] = "refused: " + type(err).__name__
attempt("secret", lambda: open(sys.argv[1]).read())
attempt("secret_dir", lambda: os.listdir(os.path.dirname(sys.argv[1])))
attempt("host_home", lambda: os.listdir(sys.argv[3]))
attempt("internet", lambda: socket.create_connection(("1.1.1.1", 443), timeout=3))
attempt("host_loopback", lambda: socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=3))
attempt("write_python", lambda: open(os.path.join(sys.prefix, "planted.txt"), "w"))
def fill():
    with open("/grading/big", "wb") as fh:
        for _ in range(100):
            fh.write(b"x" * 2**20)
attempt("fill_disk", fill)
out["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(json.dumps(out))
'''


def test_inside_no_host_file_no_network_no_disk_to_fill(bwrap, tmp_path):
    secret = tmp_path / "keys" / "hw1_autograd.json"
    secret.parent.mkdir()
    secret.write_text("HIDDEN-TEST-SOURCE-7f3a", encoding="utf-8")
    server = socket.create_server(("127.0.0.1", 0))  # a service of the grader's machine
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    try:
        out = inside(PROBE, tmp_path, str(secret), str(server.getsockname()[1]), str(Path.home()),
                     work_mb=16)
    finally:
        server.close()
    assert out["secret"].startswith("refused") and out["secret_dir"].startswith("refused")
    # the home folder shows at most the first folder of a readable path under it (here: a Python installation)
    shown = {Path(p).relative_to(Path.home()).parts[0] for p in sandbox.readable_paths()
             if Path.home() in Path(p).parents}
    assert out["host_home"].startswith("refused") or out["host_home"] == repr(sorted(shown))
    assert out["internet"].startswith("refused") and out["host_loopback"].startswith("refused")
    assert out["write_python"].startswith("refused")
    assert out["fill_disk"] == "refused: OSError"
    assert out["uid"] == sandbox.INSIDE_UID and out["home"] is None
    system = {"usr", "bin", "lib", "lib64", "lib32", "sbin", "proc", "dev", "tmp", "grading"}
    assert set(out["root"]) <= system | {Path(p).parts[1] for p in sandbox.readable_paths()}
    assert len(out["processes"]) <= 3  # its own process namespace: bwrap's init and the probe


def test_no_bubblewrap_means_a_refusal_that_says_what_to_do(tmp_path, monkeypatch, capsys):
    release(ROOT / "homework" / "source", tmp_path / "release", tmp_path / "keys")
    key = str(tmp_path / "keys" / "hw1_autograd.json")
    (tmp_path / "subs").mkdir()
    sandbox._probe.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap.*--no-sandbox"):
            sandbox.require()
        assert main(["grade", str(tmp_path / "subs"), "--key", key, "--out", str(tmp_path / "r.csv")]) == 3
        err = capsys.readouterr().err
        assert "bubblewrap (bwrap) is not installed" in err and "--no-sandbox" in err
        assert main(["grade", str(tmp_path / "subs"), "--key", key, "--out", str(tmp_path / "r.csv"),
                     "--no-sandbox"]) == 1  # runs: no submission in the folder
        out = capsys.readouterr().out
        assert out.startswith("WARNING: graded with --no-sandbox")
        first, header = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()
        assert first.startswith("# WARNING: graded with --no-sandbox")
        assert header == "student,exercise,points,max_points,status,reason"
    finally:
        sandbox._probe.cache_clear()
