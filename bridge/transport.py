"""Bytes in, bytes out: the stdin line reader, the one stdout writer, and the stdout fd takeover.

Owns framing at the byte level: splitting the input into lines, skipping a UTF-8 byte-order mark at the
start of the stream and blank lines, cutting lines that exceed the size limit without holding them in
memory, and writing whole encoded messages to the private stdout fd under one lock. It never decodes
JSON and never sees a handler: what a line means is the dispatcher's business.
"""

from __future__ import annotations

import array
import errno
import logging
import os
import select
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["LINE_HEAD_BYTES", "LineTooLong", "Writer", "claim_stdout", "read_lines", "reader_of", "write_all"]

logger = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 16
LINE_HEAD_BYTES = 4096
"""How much of a line over the limit is kept: a request's members before its params fit many times."""


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """Stands in for a line longer than the limit; its bytes were dropped as they arrived."""

    size: int
    """How many bytes the line had (at least; counting stops at the limit's next newline)."""
    head: bytes = b""
    """Its first bytes (up to LINE_HEAD_BYTES), where a request's id usually is, so that the error
    reply can echo it (`protocol.framing.id_of_line_head`)."""


def claim_stdout() -> int:
    """Take fd 1 for the protocol alone and point fd 1 at stderr; return the private fd.

    Done once, before anything heavy is imported, so that whatever a library prints (to
    `sys.stdout` or straight to fd 1 from C) lands on stderr instead of corrupting the protocol.
    """
    private_fd = os.dup(1)
    os.set_inheritable(private_fd, False)
    os.dup2(2, 1)
    return private_fd


def reader_of(fd: int) -> Callable[[int], bytes]:
    """`os.read` on `fd` for `read_lines`, waiting when nothing has arrived on a non-blocking fd.

    A host may hand over a pipe in non-blocking mode (the flag belongs to the pipe, shared with the
    host, so it is not ours to change). os.read then fails with EAGAIN while the pipe is empty,
    which is no end of input: wait until it is readable and read again.
    """

    def read(size: int) -> bytes:
        while True:
            try:
                return os.read(fd, size)
            except BlockingIOError:
                _wait_until_ready(fd, writing=False)

    return read


def _wait_until_ready(fd: int, *, writing: bool) -> None:
    """Block until `fd` can be read (or written) without EAGAIN: poll where there is one, as select()
    refuses a descriptor of 1024 or more."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT if writing else select.POLLIN)
        poller.poll()
    elif writing:
        select.select([], [fd], [])
    else:
        select.select([fd], [], [])


def read_lines(read: Callable[[int], bytes], max_line_bytes: int) -> Iterator[bytes | LineTooLong]:
    """Yield each non-blank input line (without its `\\n`) until `read` returns b"" (end of input).

    `read(n)` returns up to n bytes as soon as some are available (`os.read` on a pipe, or
    `BytesIO.read1`), so a request is handled the moment its newline arrives, and a burst of
    pipelined requests costs one system call per chunk rather than one per line. A line split over
    many reads is gathered in a bytearray (linear, however long), and a line over the limit is
    counted and dropped as it arrives, never held whole.
    """
    pending = bytearray()  # the start of a line whose newline has not arrived yet
    skipping = 0  # > 0 while dropping an oversized line: its bytes so far
    line_head = b""  # the first bytes of the line being dropped
    head = b""  # the first bytes of the stream, until we know whether they are a byte-order mark
    at_start = True
    while chunk := read(_CHUNK):
        if at_start:
            head += chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                continue  # not enough bytes yet to tell
            chunk, at_start = head.removeprefix(_BOM), False
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            if skipping:
                yield LineTooLong(skipping + newline - start, _topped_up(line_head, chunk, start, newline))
                skipping = 0
            elif pending:
                pending += chunk[start:newline]
                yield from _complete(bytes(pending), max_line_bytes)
                pending.clear()
            else:
                yield from _complete(chunk[start:newline], max_line_bytes)
            start = newline + 1
        rest = len(chunk) - start
        if skipping:
            skipping += rest
            line_head = _topped_up(line_head, chunk, start, len(chunk))
        elif len(pending) + rest > max_line_bytes + 1:  # (+1: its last byte may be the "\r" of "\r\n")
            skipping = len(pending) + rest
            line_head = _topped_up(bytes(pending[:LINE_HEAD_BYTES]), chunk, start, len(chunk))
            pending.clear()
        else:
            pending += chunk[start:]
    if at_start:
        pending += head  # the whole input was a few bytes that began like a byte-order mark
    if skipping:
        yield LineTooLong(skipping, line_head)
    else:
        yield from _complete(bytes(pending), max_line_bytes)  # a last line without its newline still counts


def _topped_up(line_head: bytes, chunk: bytes, start: int, end: int) -> bytes:
    """`line_head` with as much of `chunk[start:end]` as keeps it within LINE_HEAD_BYTES."""
    room = LINE_HEAD_BYTES - len(line_head)
    return line_head + chunk[start: min(end, start + room)] if room > 0 else line_head


_JSON_WHITESPACE = b" \t\r"
"""What a blank line may hold (besides its newline): JSON's whitespace. A form feed is not."""


def _complete(line: bytes, max_line_bytes: int) -> Iterator[bytes | LineTooLong]:
    """A whole line as the reader yields it: too long (a final "\r" not counted), blank (nothing), or
    the line."""
    if len(line) - line.endswith(b"\r") > max_line_bytes:
        yield LineTooLong(len(line), line[:LINE_HEAD_BYTES])
    elif line.strip(_JSON_WHITESPACE):
        yield line


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of `data` to `fd` (a pipe may take it in parts); OSError when the reader is gone.
    A full pipe in non-blocking mode (EAGAIN) is waited on until the reader makes room, as a
    blocking write would (see `reader_of`)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            _wait_until_ready(fd, writing=True)


_WRITE_PIECE = 4096
"""The most a reply write hands the kernel at once (PIPE_BUF on Linux): a write of a piece returns as
soon as the reader has taken that much, so a large reply shows progress while a slow host reads it."""


class Writer:
    """The one place that writes to stdout: whole messages, under one lock, straight to the fd.

    A write that fails (the reader of our stdout went away) closes the writer for good and calls the
    `when_broken` callback once; later writes are dropped, so a dead host never causes a traceback storm.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        """Held for a whole write, which blocks while a host does not read its stdout."""
        self._state_lock = threading.Lock()
        """Guards `_broken` and `_on_broken` alone, so registering a callback never waits on a write."""
        self._on_broken: Callable[[], None] | None = None
        self._broken = False
        self._writing_since: float | None = None
        """When the write under way began or last moved a piece out (time.monotonic), None between
        writes: read without a lock."""

    @property
    def broken(self) -> bool:
        return self._broken

    def blocked_for(self) -> float:
        """How long the write under way has gone without progress: it is written in pieces of at most
        _WRITE_PIECE bytes, and each piece that goes out counts (a large reply to a host that reads,
        however slowly, keeps moving; one to a host that stopped does not)."""
        since = self._writing_since
        return time.monotonic() - since if since is not None else 0.0

    def unread(self) -> int | None:
        """How many bytes written to stdout its reader has not taken yet: a pipe's FIONREAD (answered
        on the write end too), a socket's send queue (TIOCOUTQ); None for anything else (a file, a
        terminal, a closed fd), whose count says nothing of a reader."""
        kind = self._kind()
        if kind is None:
            return None
        import fcntl
        import termios

        count = array.array("i", [0])
        try:
            fcntl.ioctl(self._fd, termios.FIONREAD if kind == "pipe" else termios.TIOCOUTQ, count)
        except OSError:
            return None
        return count[0]

    def _kind(self) -> str | None:
        """"pipe" or "socket" for a stdout whose queue can be read (POSIX), else None."""
        try:
            import fcntl  # noqa: F401  (POSIX only)
            mode = os.fstat(self._fd).st_mode
        except (ImportError, OSError):
            return None
        return "pipe" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else None

    def when_broken(self, callback: Callable[[], None]) -> None:
        """Call `callback` once when stdout breaks, from the failing writer's thread; at once if it
        already has (an early ping's reply may have found it gone before the server was up)."""
        with self._state_lock:
            self._on_broken = callback
            broken = self._broken
        if broken:
            callback()

    def write(self, data: bytes) -> bool:
        """Write `data` completely (one or more encoded messages); False when stdout is gone."""
        on_broken: Callable[[], None] | None = None
        with self._lock:
            if self._broken:
                return False
            self._writing_since = time.monotonic()
            try:
                view = memoryview(data)
                for start in range(0, len(view), _WRITE_PIECE):  # each piece that goes out is progress
                    write_all(self._fd, view[start: start + _WRITE_PIECE])
                    self._writing_since = time.monotonic()
            except OSError as exc:
                with self._state_lock:
                    self._broken = True
                    on_broken = self._on_broken
                level = logging.DEBUG if exc.errno in (errno.EPIPE, errno.EBADF) else logging.WARNING
                logger.log(level, "stdout is gone (%s); replies from now on are dropped", exc)
            else:
                return True
            finally:
                self._writing_since = None
        if on_broken is not None:
            on_broken()
        return False
