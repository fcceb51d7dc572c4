"""course_utils.server_extension: every kernel websocket of a real JupyterLab has TCP_NODELAY set.

Without it, tornado leaves Nagle's algorithm on, and about half the moves of a slider waited ~35 ms
for the page's delayed acknowledgement (README, *Widget updates*). The end-to-end test reads the option
off the server's own socket (``pidfd_getfd``, Linux 5.6+), with the extension on and off.
"""

import ctypes
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from course_utils.server_extension import NODELAY_FLAG, without_nagle
from tests.browser.harness import ROOT, free_port, wait_until_answering

EXTENSION = "course_utils.server_extension"


class _Handler:
    def __init__(self, calls):
        self.calls = calls

    def set_nodelay(self, value):
        self.calls.append(("set_nodelay", value))


class _Connection:
    def __init__(self, calls):
        self.calls = calls
        self.websocket_handler = _Handler(calls)

    def connect(self):
        self.calls.append(("connect",))
        return "the base class's future"


def test_without_nagle_sets_nodelay_before_the_base_class_connects():
    calls = []
    connection = without_nagle(_Connection)(calls)
    assert connection.connect() == "the base class's future"
    assert calls == [("set_nodelay", True), ("connect",)]
    assert isinstance(connection, _Connection)
    assert getattr(type(connection), NODELAY_FLAG)


def test_without_nagle_wraps_a_class_once_and_only_classes():
    once = without_nagle(_Connection)
    assert without_nagle(once) is once
    with pytest.raises(TypeError, match="connection_class must be a class, got 'ZMQ'"):
        without_nagle("ZMQ")


def test_the_server_imports_the_extension_without_torch():
    code = ("import sys, course_utils.server_extension as e; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'sklearn', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"


def test_installing_the_package_enables_the_extension(tmp_path):
    """What `pip install -r requirements.txt` installed: Jupyter's own listing finds it enabled and
    loadable."""
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path))
    env.pop("JUPYTER_CONFIG_PATH", None)
    out = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"], env=env,
                         capture_output=True, text=True, timeout=120)
    listing = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # without the colours
    line = next((ln for ln in listing.splitlines() if EXTENSION in ln), "")
    assert "enabled" in line, listing
    assert f"{EXTENSION} OK" in " ".join(listing.split()), listing


def _pidfd_getfd(pid: int, fd: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = libc.syscall(434, pid, 0)  # pidfd_open (same number on x86_64 and aarch64)
    if pidfd < 0:
        raise OSError(ctypes.get_errno(), "pidfd_open")
    try:
        dup = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd
        if dup < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return dup
    finally:
        os.close(pidfd)


def _server_nodelay(pid: int, peer: tuple) -> int | None:
    """TCP_NODELAY of the server's socket connected to ``peer`` (our end's address), None if none."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                continue
            dup = _pidfd_getfd(pid, int(fd))
        except FileNotFoundError:
            continue
        sock = socket.socket(fileno=dup)
        try:
            if sock.type == socket.SOCK_STREAM and sock.getpeername() == peer:
                return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        except OSError:
            pass
        finally:
            sock.close()
    return None


def _probe_or_skip():
    if not sys.platform.startswith("linux"):
        pytest.skip("reads the server's socket with pidfd_getfd (Linux only)")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                seen = _server_nodelay(os.getpid(), listener.getsockname())
            except OSError as error:
                pytest.skip(f"pidfd_getfd is not allowed here: {error}")
            assert seen == 1  # the probe reads what was set


async def _kernel_websocket(port: int, token: str, kernel_id: str):
    """Open the kernel's websocket, wait for kernel_info_reply; return our end of it."""
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?token={token}"
    ws = await websocket_connect(url)
    session = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": "kernel_info_request", "username": "test",
                   "session": session, "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell", "buffers": []}))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        message = json.loads(await ws.read_message())
        if message["header"]["msg_type"] == "kernel_info_reply":
            return ws
    raise AssertionError("no kernel_info_reply within 60 s")


@pytest.mark.parametrize("enabled", [True, False], ids=["extension on", "extension off"])
def test_a_real_servers_kernel_websocket_has_nodelay_only_with_the_extension(tmp_path, enabled):
    import asyncio

    _probe_or_skip()
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    if not enabled:
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {EXTENSION: False}}}))
    port, token = free_port(), "t" + os.urandom(8).hex()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), IPYTHONDIR=str(tmp_path / "ipython"))
    env.pop("JUPYTER_CONFIG_PATH", None)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={tmp_path}", "--allow-root"]
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(path, method="GET"):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/{path}", method=method,
                                         headers={"Authorization": f"token {token}"},
                                         data=b"{}" if method == "POST" else None)
        return json.loads(opener.open(request, timeout=30).read())

    loop = asyncio.new_event_loop()
    try:
        wait_until_answering(lambda: call("api/status"), proc)
        kernel = call("api/kernels", "POST")
        ws = loop.run_until_complete(_kernel_websocket(port, token, kernel["id"]))
        ours = ws.protocol.stream.socket.getsockname()
        assert _server_nodelay(proc.pid, ours) == (1 if enabled else 0), (tmp_path / "server.log").read_text()
        ws.close()
    finally:
        loop.close()
        proc.terminate()
        proc.wait(15)
        log.close()
