"""A Jupyter server extension: the kernel's messages reach the page without Nagle's delay.

Tornado leaves Nagle's algorithm on for a websocket (``WebSocketHandler.set_nodelay(False)`` is its
default), so a small message written while the one before it is still unacknowledged waits in the
server until the page's acknowledgement comes, which the page's TCP stack may delay by tens of
milliseconds. A slider move sends several small messages within a millisecond or two (the kernel's
``busy``, the widget's new state, ``idle``): in JupyterLab on one machine about half the moves of a bare
slider took 45-53 ms instead of 9-23 ms, and every plot's slider paid the same. With this extension
every kernel websocket has ``TCP_NODELAY`` set and those moves take 10-24 ms (``README.md``, *Widget
updates*).

It is enabled by ``course_utils/jupyter_server_config.d/course_utils.json``, which installing the
package (``pip install -r requirements.txt``, Binder's ``postBuild``) puts into
``<prefix>/etc/jupyter/jupyter_server_config.d``.
Importing it imports nothing else of the course's: torch stays out of the server's memory.
"""

from __future__ import annotations

NODELAY_FLAG = "_course_sets_nodelay"
#: What the server logs when the extension is loaded (the latency benchmark looks for it).
LOADED_MESSAGE = "course_utils: kernel websockets send without Nagle's delay (TCP_NODELAY)"


def _jupyter_server_extension_points():
    """The extension's module, for the server's extension loader."""
    return [{"module": __name__}]


def without_nagle(connection_class: type) -> type:
    """A subclass of a kernel websocket connection class whose ``connect()`` first sets TCP_NODELAY."""
    if not isinstance(connection_class, type):
        raise TypeError(f"connection_class must be a class, got {connection_class!r} "
                        f"({type(connection_class).__name__})")
    if getattr(connection_class, NODELAY_FLAG, False):
        return connection_class

    def connect(self):
        self.websocket_handler.set_nodelay(True)
        return super(cls, self).connect()  # a Future, a coroutine or None, as the base class returns

    cls = type(f"NoDelay{connection_class.__name__}", (connection_class,),
               {"connect": connect, NODELAY_FLAG: True, "__module__": __name__,
                "__doc__": f"{connection_class.__name__} with TCP_NODELAY set on its websocket."})
    return cls


def _load_jupyter_server_extension(serverapp) -> None:
    """Swap the server's kernel websocket connection class for one that sets TCP_NODELAY."""
    settings = serverapp.web_app.settings
    base = settings.get("kernel_websocket_connection_class") or serverapp.kernel_websocket_connection_class
    settings["kernel_websocket_connection_class"] = without_nagle(base)
    serverapp.log.info(LOADED_MESSAGE)
