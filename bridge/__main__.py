"""Entry point of `yantra-bridge` and `python -m bridge`: flags, stdout takeover, then serve.

Owns the start-up order that keeps stdout clean and the first reply fast: parse flags, take fd 1
for the protocol before anything can print, set up non-blocking logging, pin numeric libraries to
one thread, and hand over to bridge.server. Everything after that is the server's.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence


def _imports_off_the_working_directory() -> None:
    """Keep the host's working directory, often the user's workspace, off the import path: `python -m
    bridge` puts it first on sys.path, where a workspace's own `model/` or `protocol/` folder would
    be imported (and run) instead of ours, and the worker pool's fork server, started by `python -c`,
    would do the same. Not when this package itself was loaded from there (a run from a checkout).
    Run when this module is imported, as early as it can be; what Python imported before that
    (`python -m bridge` imports the package first) can still come from there, so a host should spawn
    `yantra-bridge`, or `python -P -m bridge`."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        here = os.getcwd()
    except OSError:  # the working directory was removed: nothing can be imported from it either
        return
    if os.path.normcase(root) == os.path.normcase(here):
        return
    sys.path[:] = [entry for entry in sys.path
                   if os.path.normcase(os.path.abspath(entry or os.curdir)) != os.path.normcase(here)]
    os.environ["PYTHONSAFEPATH"] = "1"  # the children's `-c` adds no working directory either


_imports_off_the_working_directory()

from bridge.stopping import StopRequest, install_stop_signals  # noqa: E402  (after the path is safe)

__all__ = ["main"]

_SWITCH_INTERVAL_S = 0.0005
"""How long a busy thread may hold the GIL before the reader gets a turn (CPython's default is 5 ms,
which would put a 5 ms floor under `ping` while a forward pass runs)."""

_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def _print_schema() -> int:
    import orjson

    from protocol.methods import json_schema

    sys.stdout.buffer.write(orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the daemon until it is told to stop; the process exits with the lifecycle's exit code.

    Serving ends in `os._exit`: by then every reply is written (unbuffered, straight to the fd), and
    a normal interpreter exit could hang flushing a stderr that nobody reads.
    """
    started = time.monotonic()
    stop = StopRequest()
    install_stop_signals(stop)  # first: a signal during start-up stops it gracefully, not by default action
    from bridge.config import parse_args

    config = parse_args(argv)
    if config.print_schema:
        return _print_schema()
    for name in _ONE_THREAD:
        os.environ.setdefault(name, "1")  # one intra-op thread: two would fight the reader for 2 cores
    from bridge.early import EarlyReader
    from bridge.logs import configure_logging
    from bridge.transport import Writer, claim_stdout, reader_of

    writer = Writer(claim_stdout())
    log_sink = configure_logging(config.log_level)
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    reader = EarlyReader(reader_of(0), writer, max_line_bytes=config.max_line_bytes,
                         max_json_depth=config.max_json_depth)
    from bridge.methods import BridgeMethods  # pydantic and the protocol models: ~100 ms, while pings are answered
    from bridge.server import Server

    exit_code = Server(config, reader=reader, writer=writer, stop=stop, started=started, router=BridgeMethods).serve()
    log_sink.flush()
    os._exit(exit_code)


if __name__ == "__main__":
    sys.exit(main())
