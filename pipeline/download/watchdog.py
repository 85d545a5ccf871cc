"""Wall-clock bounds on one HTTP attempt: the :class:`_Watchdog` that cuts its connection when a deadline passes
(even while a read is blocked), the thread's current watchdog (``_watching``) and the rate floor on its body."""
from __future__ import annotations

import contextlib
import functools
import threading
import time
from typing import Callable

from .common import _Retry


class _Watchdog:
    """Cuts the connection of one attempt when a deadline passes: shuts its socket down, so that a read blocked
    on it (for the status line and headers, a chunk-size line, the next bytes) returns at once.

    The read timeout bounds one wait for a byte only; a server that sends one byte just within it, again and
    again, would hold a read, and the download, for ever. :meth:`watch` names the socket, :meth:`arm` sets the
    deadline, :meth:`disarm` lifts it; ``fired`` is the reason given with the deadline that passed, else None.
    Its thread ends with :meth:`close`. While it is open it is this thread's watchdog (``_watching.dog``), told
    of each request sent by a session of :func:`http_session` so that the wait for the answer is bounded too.
    """

    def __init__(self, header_timeout: float):
        self.header_timeout, self.fired = header_timeout, None
        self._sock = self._deadline = self._reason = None
        self._armed = self._closed = False
        self._sleeping_until: float | None = None  # when the thread looks again (None: when woken)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="download-watchdog", daemon=True)
        self._thread.start()
        _watching.dog = self

    def arm(self, deadline: float, reason: str | Callable[[], str]) -> None:
        """Cut at ``deadline`` (``time.monotonic()``), giving ``reason`` (a callable: worked out only then)."""
        with self._cond:
            if self.fired is not None:  # cut once: every later wait of this attempt is cut at once
                deadline, reason = time.monotonic(), self.fired
            self._deadline, self._reason, self._armed = deadline, reason, True
            if self._sleeping_until is None or deadline < self._sleeping_until:
                self._cond.notify()  # a later deadline is seen when the thread wakes: no wake-up for each read

    def disarm(self) -> None:
        with self._cond:
            self._armed = False

    def watch(self, sock) -> None:
        """Cut ``sock`` (when known) when a deadline passes."""
        with self._cond:
            self._sock = sock if sock is not None else self._sock

    def expect_headers(self, sock, host: str) -> None:
        """A request was sent on ``sock`` to ``host``: its answer's status line and headers (and a redirect's
        body) must come within ``header_timeout`` seconds."""
        self.watch(sock)
        self.arm(time.monotonic() + self.header_timeout, f"no response headers from {host} within "
                                                         f"{self.header_timeout:g} s")

    def close(self) -> None:
        if getattr(_watching, "dog", None) is self:
            _watching.dog = None
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._armed and now >= self._deadline:
                    self.fired = self._reason() if callable(self._reason) else self._reason
                    self._armed = False
                    _cut(self._sock)
                    continue
                # disarmed between reads, it still sleeps until the last deadline, so that arming again with
                # the same or a later one need not wake it
                self._sleeping_until = self._deadline if self._armed or (self._deadline or 0) > now else None
                self._cond.wait(None if self._sleeping_until is None else self._sleeping_until - now)


#: the watchdog of the attempt this thread is making (``_watching.dog``), for the connections it opens
_watching = threading.local()


def _cut(sock) -> None:
    """Shut ``sock`` down for reading and writing (a blocked read returns); closing it is left to its owner.
    A TLS socket is shut down below TLS (``SSLSocket.shutdown`` would drop its TLS state under a reader)."""
    import socket

    while sock is not None and not isinstance(sock, socket.socket):
        sock = getattr(sock, "socket", None)  # urllib3's SSLTransport (TLS through a TLS proxy) wraps one
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _rate_floor(read: Callable[[int], bytes], min_rate: float, window: float, watchdog: _Watchdog | None = None,
                timeout: float | None = None) -> Callable[[int], bytes]:
    """``read``, giving up (:class:`_Retry`) when fewer than ``min_rate`` bytes a second arrived over a window
    of ``window`` seconds. The read timeout bounds one wait for a byte; a server that sends one byte just
    within it, again and again, would otherwise hold the download for ever. The check runs before each read,
    so every block that arrived is written first (and is resumed from). No floor without a positive
    ``min_rate`` and ``window``.

    With a ``watchdog``, a read still waiting when the floor is broken (no bytes came back in time: a server
    that feeds a chunk-size line one byte at a time) is cut then; without a floor, one that brings no bytes
    for ``timeout`` seconds."""
    floor = bool(min_rate and min_rate > 0 and window and window > 0)
    if not floor and (watchdog is None or not timeout):
        return read
    start, got = time.monotonic(), 0

    def under_floor(span: float) -> str:
        return (f"the server sent only {got} bytes in {span:.1f} s, under the floor of {min_rate:g} bytes/s "
                "(min_rate)")

    def paced(n: int) -> bytes:
        nonlocal start, got
        now = time.monotonic()
        if floor and now - start >= window:
            if got < min_rate * (now - start):
                raise _Retry(under_floor(now - start), stalled=True)
            start, got = now, 0
        if watchdog is not None:
            if floor:  # the moment the floor is broken unless this read brings more
                span = max(window, got / min_rate)
                watchdog.arm(start + span, functools.partial(under_floor, span))  # the text only if it fires
            else:
                watchdog.arm(now + timeout, f"the server sent no bytes of the body for {timeout:g} s, the timeout")
        try:
            block = read(n)
        finally:
            if watchdog is not None:
                watchdog.disarm()
        got += len(block)
        return block

    return paced
