"""The Binder image's own steps (binder/postBuild) install the settings a 1-2 GB session needs, and
JupyterLab reads them: kernels shut down with their tab, the memory meter knows the limit."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.harness import ROOT, free_port, run_binder_postbuild, wait_until_answering


@pytest.fixture(scope="module")
def prefix(tmp_path_factory) -> Path:
    return run_binder_postbuild(ROOT, tmp_path_factory.mktemp("binder") / "prefix")


def test_postbuild_installs_the_kernel_shutdown_override(prefix):
    overrides = json.loads((prefix / "share/jupyter/lab/settings/overrides.json").read_text())
    assert overrides["@jupyterlab/notebook-extension:tracker"]["kernelShutdown"] is True


def test_the_override_names_a_real_setting_of_this_jupyterlab():
    import jupyterlab

    schema = Path(jupyterlab.__file__).parents[0] / "schemas"
    if not schema.exists():  # installed layout: <prefix>/share/jupyter/lab/schemas
        schema = Path(sys.prefix) / "share/jupyter/lab/schemas"
    tracker = json.loads((schema / "@jupyterlab/notebook-extension/tracker.json").read_text())
    assert tracker["properties"]["kernelShutdown"]["type"] == "boolean"
    assert tracker["properties"]["kernelShutdown"]["default"] is False  # hence the override


def test_postbuild_configures_the_memory_meter(prefix):
    config_dir = prefix / "etc/jupyter/jupyter_server_config.d"
    config = json.loads((config_dir / "course-resource-usage.json").read_text())
    from jupyter_resource_usage.config import ResourceUseDisplay

    for name in config["ResourceUseDisplay"]:
        assert name in ResourceUseDisplay.class_trait_names(), f"{name} is not a ResourceUseDisplay setting"


def test_jupyterlab_serves_the_settings_postbuild_installed(prefix, tmp_path):
    """A real JupyterLab started with the Binder prefix's settings: the tracker's composite setting has
    kernelShutdown on by default, and the memory meter's endpoint reports the session's limit."""
    import urllib.request

    port, token, limit = free_port(), "t" + os.urandom(8).hex(), 2 * 1024**3
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(prefix / "etc/jupyter"), MEM_LIMIT=str(limit),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "user"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={tmp_path}",
           f"--LabApp.app_settings_dir={prefix / 'share/jupyter/lab/settings'}", "--allow-root"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(path):
        url = f"http://127.0.0.1:{port}/{path}?token={token}"
        return json.loads(opener.open(url, timeout=5).read())

    try:
        wait_until_answering(lambda: get("api/status"), proc)
        tracker = get("lab/api/settings/@jupyterlab/notebook-extension:tracker")
        # overrides.json replaces the schema's default; the page's composite setting starts from it
        assert tracker["schema"]["properties"]["kernelShutdown"]["default"] is True
        assert "kernelShutdown" not in tracker.get("settings", {})  # no user setting hides it
        metrics = get("api/metrics/v1")
        assert metrics["limits"]["memory"]["rss"] == limit
        assert 0 < metrics["rss"] < limit
    finally:
        proc.terminate()
        proc.wait(15)


def test_binder_installs_a_hangul_font_the_course_knows():
    """binder/apt.txt's font is one course_utils.plotting finds (the Korean edition's plots), and .ci/run
    installs the same package."""
    from course_utils.plotting import HANGUL_FONTS

    packages = (ROOT / "binder" / "apt.txt").read_text().split()
    assert packages == ["fonts-nanum"]
    assert HANGUL_FONTS[0] == "NanumGothic"  # the family fonts-nanum installs
    assert "fonts-nanum" in (ROOT / ".ci" / "run").read_text()
