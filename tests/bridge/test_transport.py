"""The transport fed with in-memory chunks: line splitting, BOM, blank lines, size limit, the writer."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from bridge.transport import LINE_HEAD_BYTES, LineTooLong, Writer, read_lines, reader_of
from tests.bridge.conftest import chunked_reader


def lines_of(*chunks: bytes, limit: int = 1000) -> list[bytes | LineTooLong]:
    return list(read_lines(chunked_reader(chunks), limit))


def test_lines_are_split_on_newlines_whatever_the_chunking():
    assert lines_of(b'{"a":1}\n{"b"', b":2}\n", b'{"c":3}\n') == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_a_byte_order_mark_at_the_start_of_the_stream_is_skipped_even_split_across_reads():
    assert lines_of(b"\xef", b"\xbb\xbf[1]\n") == [b"[1]"]


def test_a_byte_order_mark_later_in_the_stream_is_kept_for_the_parser_to_refuse():
    assert lines_of(b"[1]\n\xef\xbb\xbf[2]\n") == [b"[1]", b"\xef\xbb\xbf[2]"]


def test_blank_lines_and_lone_carriage_returns_are_ignored():
    assert lines_of(b"\n\r\n  \n[1]\r\n\n") == [b"[1]\r"]


def test_a_line_of_only_a_form_feed_or_vertical_tab_is_not_blank_to_json():
    assert lines_of(b"\x0c\n\x0b\r\n \t\n") == [b"\x0c", b"\x0b\r"]


def test_a_carriage_return_before_the_newline_does_not_count_against_the_limit():
    exact = b"[" + b"1" * 8 + b"]"  # 10 bytes: the limit
    for chunks in ([exact + b"\r\n"], [exact, b"\r", b"\n"], [exact + b"\r"]):
        assert lines_of(*chunks, limit=10) == [exact + b"\r"]
    assert lines_of(exact + b"x\r\n", limit=10) == [LineTooLong(12, exact + b"x\r")]
    assert lines_of(exact + b"x", limit=10) == [LineTooLong(11, exact + b"x")]


def test_a_last_line_without_its_newline_is_still_delivered():
    assert lines_of(b"[1]\n[2]") == [b"[1]", b"[2]"]


def test_an_oversized_line_becomes_line_too_long_and_the_next_line_is_served():
    big = b"x" * 50
    assert lines_of(big + b"\n[1]\n", limit=10) == [LineTooLong(50, big), b"[1]"]


def test_an_oversized_line_spread_over_many_reads_is_never_buffered_whole():
    chunks = [b"[" + b"1," * 20, *([b"1," * 20] * 10), b"1]\n[2]\n"]
    lines = lines_of(*chunks, limit=30)
    assert len(lines) == 2
    assert isinstance(lines[0], LineTooLong) and lines[0].size > 30
    assert lines[0].head == b"".join(chunks)[: len(lines[0].head)] and len(lines[0].head) > 30
    assert lines[1] == b"[2]"


def test_a_dropped_line_keeps_its_first_bytes_however_it_arrives():
    line = b'{"id": 7, "params": "' + b"x" * (3 * LINE_HEAD_BYTES) + b'"}'
    for size in (1, 5, 100, LINE_HEAD_BYTES, len(line)):
        chunks = [line[i: i + size] for i in range(0, len(line), size)]
        for ending in ([b"\n[1]\n"], []):
            lines = lines_of(*chunks, *ending, limit=50)
            assert lines[0] == LineTooLong(len(line), line[:LINE_HEAD_BYTES]), (size, ending)


def test_an_oversized_last_line_without_newline_is_reported():
    assert lines_of(b"[1]\n" + b"y" * 40, limit=10) == [b"[1]", LineTooLong(40, b"y" * 40)]


def test_the_writer_writes_each_message_whole_even_from_many_threads():
    read_fd, write_fd = os.pipe()
    writer = Writer(write_fd)
    message = b'{"jsonrpc":"2.0","id":1,"result":"' + b"z" * 5000 + b'"}\n'

    def write_many() -> None:
        for _ in range(20):
            writer.write(message)

    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(_read_all(read_fd)))
    reader.start()
    threads = [threading.Thread(target=write_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    os.close(write_fd)
    reader.join(10)
    os.close(read_fd)
    assert bytes(received).split(b"\n")[:-1] == [message[:-1]] * 80


def _read_all(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 65536):
        parts.append(chunk)
    return b"".join(parts)


def test_a_broken_stdout_closes_the_writer_once_and_drops_later_writes():
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    calls = []
    writer = Writer(write_fd)
    writer.when_broken(lambda: calls.append(1))
    assert writer.write(b"[1]\n") is False
    assert writer.write(b"[2]\n") is False
    assert writer.broken and calls == [1]
    os.close(write_fd)


def test_a_callback_set_after_stdout_broke_is_called_at_once():
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    writer = Writer(write_fd)
    assert writer.write(b"[1]\n") is False
    calls = []
    writer.when_broken(lambda: calls.append(1))
    assert calls == [1]
    os.close(write_fd)


def test_after_claiming_stdout_whatever_prints_lands_on_stderr():
    script = (
        "import os, sys\n"
        "from bridge.transport import claim_stdout\n"
        "fd = claim_stdout()\n"
        "print('library noise', flush=True)\n"
        "os.write(1, b'C-level noise\\n')\n"
        "os.write(fd, b'protocol line\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30, check=True)
    assert done.stdout == b"protocol line\n"
    assert b"library noise" in done.stderr and b"C-level noise" in done.stderr


def test_an_input_of_a_few_bytes_that_begin_like_a_byte_order_mark_is_still_delivered():
    assert lines_of(b"\xef") == [b"\xef"]
    assert lines_of(b"\xef\xbb") == [b"\xef\xbb"]


def test_a_line_gathered_from_many_reads_is_delivered_whole():
    line = b'{"code": "' + b"x" * 5000 + b'"}'
    chunks = [line[i : i + 7] for i in range(0, len(line), 7)] + [b"\n"]
    assert lines_of(*chunks, limit=10_000) == [line]


def _non_blocking_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    return read_end, write_end


def test_a_read_on_an_empty_non_blocking_pipe_waits_for_data_rather_than_ending_the_input():
    read_end, write_end = _non_blocking_pipe()
    try:
        threading.Timer(0.2, os.write, (write_end, b'{"a":1}\n')).start()
        assert reader_of(read_end)(1024) == b'{"a":1}\n'
        os.close(write_end)
        assert reader_of(read_end)(1024) == b""  # the end of input is still the end
    finally:
        os.close(read_end)


def test_a_write_to_a_full_non_blocking_pipe_waits_for_the_reader_and_loses_nothing():
    read_end, write_end = _non_blocking_pipe()
    data = bytes(range(256)) * 4096  # 1 MiB: many times a pipe's buffer
    received = bytearray()

    def drain_later() -> None:
        threading.Event().wait(0.2)
        os.set_blocking(read_end, True)
        while chunk := os.read(read_end, 1 << 16):
            received.extend(chunk)

    reader = threading.Thread(target=drain_later)
    reader.start()
    try:
        writer = Writer(write_end)
        assert writer.write(data) and not writer.broken
    finally:
        os.close(write_end)
        reader.join()
        os.close(read_end)
    assert bytes(received) == data


def test_a_callback_is_registered_while_a_write_is_stuck_on_a_full_pipe():
    read_fd, write_fd = os.pipe()
    writer = Writer(write_fd)
    stuck = threading.Thread(target=writer.write, args=(b"x" * (4 << 20),), daemon=True)  # nobody reads
    stuck.start()
    stuck.join(0.2)
    assert stuck.is_alive()
    registering = threading.Thread(target=writer.when_broken, args=(lambda: None,))
    registering.start()
    registering.join(10)
    assert not registering.is_alive()  # did not wait for the write (the server registers at start-up)
    assert writer.blocked_for() > 0.1  # how long the stuck write has lasted
    os.close(read_fd)  # the host goes away: the stuck write fails
    stuck.join(10)
    assert writer.broken and writer.blocked_for() == 0.0
    os.close(write_fd)


def test_unread_counts_what_the_reader_has_not_taken_on_a_pipe_or_socket_and_says_nothing_for_a_file(tmp_path):
    import socket

    read_end, write_end = os.pipe()
    try:
        writer = Writer(write_end)
        assert writer.write(b"x" * 5000) and writer.unread() == 5000
        os.read(read_end, 1000)
        assert writer.unread() == 4000
    finally:
        os.close(read_end)
        os.close(write_end)
    ours, theirs = socket.socketpair()  # how some hosts (libuv's) make a child's stdio
    with ours, theirs:
        writer = Writer(ours.fileno())
        assert writer.write(b"x" * 5000) and writer.unread() > 0  # its send queue, not what it could receive
        while len(theirs.recv(65536)) and writer.unread():
            pass
        assert writer.unread() == 0
    with (tmp_path / "out").open("wb") as file:
        assert Writer(file.fileno()).unread() is None
