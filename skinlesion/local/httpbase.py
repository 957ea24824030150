"""What the local servers share: a quiet threaded HTTP server and a clear busy-port error."""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from io import BufferedIOBase
from socketserver import BaseRequestHandler
from typing import Self

log = logging.getLogger(__name__)


class PortInUse(RuntimeError):
    """A port the local stack needs is taken (usually: the stack is already running)."""

    def __init__(self, part: str, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} for the {part} is already in use: is the local stack already "
            f"running (see .local/stack.json)? Stop it, or choose other ports (skinlesion up --help)."
        )
        self.part, self.host, self.port = part, host, port


def ensure_free(part: str, host: str, port: int) -> None:
    """Raise PortInUse when `port` cannot be bound (checked before anything starts)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(part, host, port) from err
            raise


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free right now (held open together, so never the same twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class LocalHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that binds with a named error, serves in a thread, and stays quiet
    about clients that hang up (browsers and connection pools do it all the time)."""

    daemon_threads = True
    part = "server"
    # socketserver's default listen backlog is 5: a burst of new connections (a page's parallel
    # fetches, a load test's clients) would see resets. The kernel caps it at somaxconn.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: Callable[..., BaseRequestHandler]) -> None:
        try:
            super().__init__(address, handler)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUse(self.part, address[0], address[1]) from err
            raise
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, name=self.part, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
        self.server_close()

    def handle_error(self, request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("%s: client %s went away: %s", self.part, client_address, exc)
            return
        log.exception("%s: error while handling a request from %s", self.part, client_address)


DRAIN_CAP_BYTES = 64 * 1024 * 1024


def drain(rfile: BufferedIOBase, length: int, cap: int = DRAIN_CAP_BYTES) -> bool:
    """Read and drop a refused body so the client, still sending, gets the answer and not a reset.
    False (the caller closes the connection) when the body is too big to be worth reading."""
    if length > cap:
        return False
    while length > 0:
        chunk = rfile.read(min(length, 1 << 20))
        if not chunk:
            return False
        length -= len(chunk)
    return True
