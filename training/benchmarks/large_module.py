"""How long `ping` waits while the real daemon scores a large module.

The daemon scores code over 64 Ki characters apart from the small requests. CPython's parser keeps
the interpreter lock for a whole parse, so where the parse runs decides whether `ping` waits: with
worker processes configured (the default where there are two CPUs or more), the first large module
starts them and waits for them, and every large module is parsed there; with `-- --workers 0` the
daemon parses it itself. Each round sends one module, then pings one after another until the module is answered,
and prints the module's time and the pings' round trips. Like training.benchmarks.daemon, it spawns
`python -m bridge` as the editor would and speaks raw JSON lines.

The module is real code: standard-library files joined until it is --megabytes long, with a
different first line each round so that no round is answered from the daemon's cache.

    python -m training.benchmarks.large_module [--megabytes 1.5] [--rounds 3] [-- daemon flags]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from training.report import describe_machine

__all__ = ["large_module", "main"]

_TIMEOUT_S = 300.0
_PING_GAP_S = 0.005


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


class _Daemon:
    """The daemon behind a pipe, and the time each reply arrived, by id."""

    def __init__(self, command: Sequence[str]) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.arrived: dict[object, float] = {}
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            reply = orjson.loads(line)
            with self._changed:
                self.arrived[reply.get("id")] = time.perf_counter()
                self._changed.notify_all()

    def send(self, request_id: object, method: str, params: object = None) -> float:
        assert self.process.stdin is not None
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        sent = time.perf_counter()
        self.process.stdin.write(orjson.dumps(message) + b"\n")
        self.process.stdin.flush()
        return sent

    def wait(self, request_id: object) -> float:
        with self._changed:
            if not self._changed.wait_for(lambda: request_id in self.arrived, timeout=_TIMEOUT_S):
                raise TimeoutError(f"no reply to {request_id!r} in {_TIMEOUT_S:.0f} s")
            return self.arrived[request_id]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=_TIMEOUT_S)


def _round(daemon: _Daemon, number: int, module: str) -> tuple[float, list[float]]:
    """Send the module, ping until it is answered; its seconds and the pings' round trips (ms)."""
    module_id = f"module-{number}"
    started = daemon.send(module_id, "predict", {"code": f"# round {number}\n{module}"})
    pings: list[float] = []
    while module_id not in daemon.arrived:
        ping_id = f"ping-{number}-{len(pings)}"
        sent = daemon.send(ping_id, "ping")
        pings.append((daemon.wait(ping_id) - sent) * 1e3)
        time.sleep(_PING_GAP_S)
    return daemon.wait(module_id) - started, pings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=1.5, help="size of the module (the daemon's limit is 2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("daemon_args", nargs="*", help="extra flags for the daemon (after --)")
    args = parser.parse_args(argv)

    module = large_module(args.megabytes)
    print(f"machine: {describe_machine()}")
    print(f"module: {len(module) / 1024 / 1024:.2f} MB of standard-library code, {module.count(chr(10)):,} lines")
    daemon = _Daemon([sys.executable, "-m", "bridge", *args.daemon_args])
    try:
        daemon.send("warm", "predict", {"code": "x = 1\n"})
        daemon.wait("warm")  # the model is loaded
        for number in range(args.rounds):
            seconds, pings = _round(daemon, number, module)
            where = " (the first large module: starts the workers, if any)" if number == 0 else ""
            print(f"round {number}{where}: module answered in {seconds:.2f} s; {len(pings)} pings meanwhile, "
                  f"round trip median {statistics.median(pings):.1f} ms, max {max(pings):.1f} ms")
            time.sleep(1.0)  # let workers started by this round come up
    finally:
        daemon.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
