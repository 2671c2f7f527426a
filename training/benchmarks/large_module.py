"""How long `ping` waits while the real daemon scores a large module.

The daemon scores code over 64 Ki characters apart from the small requests. CPython's parser keeps
the interpreter lock for a whole parse, so where the parse runs decides whether `ping` waits: with
worker processes configured (the default where there are two CPUs or more), the first large module
starts them and waits for them, and every large module is parsed there; with `-- --workers 0` the
daemon parses it itself. Each round sends one module, then pings one after another until the module is answered,
and prints the module's time and the pings' round trips. Like training.benchmarks.daemon (whose pipe
it uses), it spawns `python -m bridge` as the editor would and speaks raw JSON lines.

The module is real code: standard-library files joined until it is --megabytes long, with a
different first line each round so that no round is answered from the daemon's cache.

    python -m training.benchmarks.large_module [--megabytes 1.5] [--rounds 3] [-- daemon flags]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from training.benchmarks.daemon import LinePipe, request
from training.report import describe_machine

__all__ = ["large_module", "main"]

_PING_GAP_S = 0.005
_MODULE_IDS = 1_000_000
"""Round n's module is request 1,000,000 + n; pings count up from 0 in each round."""


def large_module(megabytes: float) -> str:
    """Standard-library files (those that can follow others: no `from __future__`) joined, in name
    order, until the text is `megabytes` long."""
    wanted = int(megabytes * 1024 * 1024)
    parts: list[str] = []
    size = 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "from __future__" in text or size + len(text) > wanted:
            continue
        try:
            compile(text, str(path), "exec", flags=0x400, dont_inherit=True)  # PyCF_ONLY_AST: it parses
        except SyntaxError:
            continue
        parts.append(text)
        size += len(text)
    return "\n".join(parts)


def _round(pipe: LinePipe, number: int, module: str) -> tuple[float, list[float]]:
    """Send the module, then ping one after another until it is answered (replies come out of order:
    the module's may arrive while a ping is awaited); its seconds and the pings' round trips (ms)."""
    module_id = _MODULE_IDS + number
    started = time.perf_counter()
    pipe.write(request(module_id, "predict", {"code": f"# round {number}\n{module}"}))
    answered: float | None = None
    pings: list[float] = []
    while answered is None:
        ping_id = len(pings)
        sent = time.perf_counter()
        pipe.write(request(ping_id, "ping"))
        while (reply_id := orjson.loads(pipe.read_line())["id"]) != ping_id:
            if reply_id == module_id:
                answered = time.perf_counter()
        pings.append((time.perf_counter() - sent) * 1e3)
        time.sleep(_PING_GAP_S)
    return answered - started, pings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=1.5, help="size of the module (the daemon's limit is 2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("daemon_args", nargs="*", help="extra flags for the daemon (after --)")
    args = parser.parse_args(argv)

    module = large_module(args.megabytes)
    print(f"machine: {describe_machine()}")
    print(f"module: {len(module) / 1024 / 1024:.2f} MB of standard-library code, {module.count(chr(10)):,} lines")
    pipe = LinePipe([sys.executable, "-m", "bridge", *args.daemon_args])
    try:
        pipe.write(request(0, "predict", {"code": "x = 1\n"}))
        pipe.read_line()  # the model is loaded
        for number in range(args.rounds):
            seconds, pings = _round(pipe, number, module)
            where = " (the first large module: starts the workers, if any)" if number == 0 else ""
            print(f"round {number}{where}: module answered in {seconds:.2f} s; {len(pings)} pings meanwhile, "
                  f"round trip median {statistics.median(pings):.1f} ms, max {max(pings):.1f} ms")
            time.sleep(1.0)  # let workers started by this round come up
    finally:
        pipe.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
