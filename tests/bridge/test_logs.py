"""The stderr log sink: records arrive in order, and a stderr nobody reads never blocks a logger."""

from __future__ import annotations

import logging
import os

from bridge.logs import StderrLogSink


def sink_logger(sink: StderrLogSink, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [sink]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def test_records_reach_stderr_in_order():
    read_fd, write_fd = os.pipe()
    sink = StderrLogSink(write_fd)
    logger = sink_logger(sink, "tests.bridge.logs.order")
    for i in range(50):
        logger.info("record %d", i)
    sink.flush(10)
    sink.close()
    os.close(write_fd)
    text = b"".join(iter(lambda: os.read(read_fd, 65536), b"")).decode()
    os.close(read_fd)
    assert [line for line in text.splitlines() if line] == [f"record {i}" for i in range(50)]


def test_a_stderr_nobody_reads_drops_records_instead_of_blocking():
    read_fd, write_fd = os.pipe()  # never read: the pipe fills after 64 KiB
    sink = StderrLogSink(write_fd, capacity=100)
    logger = sink_logger(sink, "tests.bridge.logs.stuck")
    for i in range(20_000):
        logger.debug("a long debug record number %d %s", i, "x" * 100)
    assert sink.dropped > 0
    sink.flush(0.01)  # bounded: returns although the writer thread is stuck
    os.close(read_fd)  # the stuck write fails now and the writer thread moves on
    sink.close(10)
    os.close(write_fd)


def test_after_a_stall_the_number_of_dropped_records_is_reported():
    read_fd, write_fd = os.pipe()
    sink = StderrLogSink(write_fd, capacity=10)
    logger = sink_logger(sink, "tests.bridge.logs.report")
    for i in range(2_000):
        logger.info("filler %d %s", i, "y" * 200)
    assert sink.dropped > 0
    received = bytearray()
    for _ in range(1_000):  # each read returns as soon as the unstuck writer thread writes more
        logger.info("after the stall")
        received += os.read(read_fd, 1 << 20)
        if b"log records dropped" in received:
            break
    assert b"log records dropped: stderr was not being read" in received
    os.close(read_fd)
    sink.close(10)
    os.close(write_fd)
