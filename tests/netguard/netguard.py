"""Block outgoing network connections except to loopback, in this process and its children.

The test suite puts this folder first on ``PYTHONPATH``, so every Python process it starts (the
notebook kernels, the Jupyter server) imports it at start-up. A download attempted by course code
then fails at once with :class:`NetworkBlockedError` instead of hanging in a lecture. Set
``COURSE_ALLOW_NETWORK=1`` to switch it off.
"""

import ipaddress
import os
import socket

_ALLOWED_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkBlockedError(ConnectionRefusedError):
    """A connection to a non-loopback address was attempted while the guard is on."""


def is_allowed(host) -> bool:
    """True for loopback addresses and names, and for local (unix) sockets."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]")
    if host.lower() in _ALLOWED_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(method):
    def guarded(self, address, *args, **kwargs):
        family = getattr(self, "family", None)
        if family in (socket.AF_INET, socket.AF_INET6) and not is_allowed(address[0]):
            raise NetworkBlockedError(f"network blocked by the test suite: connection to {address!r}")
        return method(self, address, *args, **kwargs)
    guarded.__name__ = f"netguard_{method.__name__}"
    guarded._netguard = True
    return guarded


def _guard_getaddrinfo(function):
    def guarded(host, *args, **kwargs):
        if not is_allowed(host):
            raise NetworkBlockedError(f"network blocked by the test suite: name lookup of {host!r}")
        return function(host, *args, **kwargs)
    guarded._netguard = True
    return guarded


def install() -> None:
    """Patch ``socket`` so only loopback connections and look-ups go through (idempotent)."""
    if os.environ.get("COURSE_ALLOW_NETWORK") == "1":
        return
    if getattr(socket.socket.connect, "_netguard", False):
        return
    socket.socket.connect = _guard(socket.socket.connect)
    socket.socket.connect_ex = _guard(socket.socket.connect_ex)
    socket.getaddrinfo = _guard_getaddrinfo(socket.getaddrinfo)
    socket.create_connection.__globals__["getaddrinfo"] = socket.getaddrinfo

