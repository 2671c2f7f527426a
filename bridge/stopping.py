"""The stop request and the signals that make it: the first thing the daemon sets up.

Owns `StopRequest` (the first reason to stop and its exit code, safe from any thread or signal
handler) and `install_stop_signals`. Only the standard library is imported here, so `main` can
install the handlers before anything slow is imported: SIGTERM or SIGINT during start-up then
stops the daemon gracefully (exit code 0) instead of killing it.
"""

from __future__ import annotations

import signal
import threading
import time

__all__ = ["StopRequest", "install_stop_signals"]


class StopRequest:
    """The first reason to stop and the exit code it implies; safe from any thread or signal handler."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self.exit_code = 0
        self.signalled_at: float | None = None
        """When the first stop signal came (time.monotonic), also one during a drain begun for another
        reason: from then on a host that does not read stdout is not waited for long."""

    def set(self, reason: str, exit_code: int = 0) -> None:
        if not self._event.is_set():  # the first reason wins
            self.reason = reason
            self.exit_code = exit_code
            self._event.set()

    def signal(self, reason: str) -> None:
        """A stop signal: stop for it, unless already stopping, and note when it came."""
        if self.signalled_at is None:
            self.signalled_at = time.monotonic()
        self.set(reason)

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(timeout)


def install_stop_signals(stop: StopRequest) -> None:
    """SIGTERM and SIGINT ask for a graceful stop (answer what was read, exit 0) instead of killing."""

    def on_signal(signum: int, _frame: object) -> None:
        stop.signal(f"received {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
