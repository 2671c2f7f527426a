"""Logging to stderr that can never stall the daemon, even when nobody reads stderr.

Owns the log handler: records are formatted by the thread that logs them, put on a bounded queue
without waiting, and written to fd 2 by one background thread. When the host never drains stderr that
thread blocks on a full pipe and the queue fills; from then on records are counted and dropped instead
of blocking the reader or a worker. Which records exist is left to the modules that log them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading

from bridge.transport import write_all

__all__ = ["StderrLogSink", "configure_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STOP = b""
"""Queued by `close`: no log line is ever empty (each ends in a newline)."""


class StderrLogSink(logging.Handler):
    """A logging handler that hands formatted lines to a writer thread and never blocks."""

    def __init__(self, fd: int = 2, *, capacity: int = 10_000) -> None:
        super().__init__()
        self._fd = fd
        self._lines: queue.Queue[bytes] = queue.Queue(maxsize=capacity)
        self._progress = threading.Condition()
        self._queued = 0
        self._written = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._drain_forever, name="bridge-log", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            with self._progress:
                self._lines.put_nowait(line)
                self._queued += 1
        except queue.Full:
            self.dropped += 1
        except Exception:
            self.handleError(record)

    def flush(self, timeout: float = 0.5) -> None:
        """Wait up to `timeout` s for the lines queued so far to be written (stderr may be stuck)."""
        with self._progress:
            target = self._queued
            self._progress.wait_for(lambda: self._written >= target, timeout)

    def close(self, timeout: float = 1.0) -> None:
        """Stop the writer thread once the lines before are written (bounded: stderr may be stuck)."""
        super().close()
        with contextlib.suppress(queue.Full):
            self._lines.put(_STOP, timeout=timeout)
        self._thread.join(timeout)

    def _drain_forever(self) -> None:
        reported = 0
        while line := self._lines.get():  # the empty line from `close` ends the loop
            dropped = self.dropped
            if dropped > reported:  # stderr is moving again: say what was lost while it was stuck
                line = f"{dropped - reported} log records dropped: stderr was not being read\n".encode() + line
                reported = dropped
            with contextlib.suppress(OSError):  # stderr is gone too: nothing left to tell
                write_all(self._fd, line)
            with self._progress:
                self._written += 1
                self._progress.notify_all()


def configure_logging(level: str) -> StderrLogSink:
    """Send every log record at `level` or above to stderr through a non-blocking sink."""
    sink = StderrLogSink()
    sink.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [sink]
    root.setLevel(level.upper())
    return sink
