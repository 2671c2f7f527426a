"""Benchmark of the real daemon through its pipe, beside floors measured in the same run.

Spawns `python -m bridge` exactly as the editor would (it imports nothing from bridge/) and speaks raw
JSON lines to it. Prints: spawn to first `ping` reply, spawn to model ready (the first `predict`
answered), sequential `predict` round trip median/p99, pipelined throughput with a window of requests
in flight, CPU time per prediction (daemon and worker processes: steady on a noisy machine where
rates are not), and resident memory. Beside them, three floors from the same run, so that ratios
survive a noisy machine: an echo daemon over the same kind of pipe; the same daemon with an instant
stand-in model (its own cost: transport, JSON-RPC, batching, shaping); and the Predictor alone in
this process on the same code.

Every request carries different code: real standard-library functions of 20-40 lines, each renamed
with a counter so no two requests are the same text.

    python -m training.benchmarks.daemon [--sequential 1000] [--pipelined 6000] [--window 64] [--path FILE]
        [-- daemon flags]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import orjson

from training.report import describe_machine

__all__ = ["LinePipe", "main", "request", "sample_functions"]

_SOURCE_MODULES = (
    "argparse", "ast", "calendar", "configparser", "csv", "difflib", "email.message", "email.utils",
    "ftplib", "gettext", "http.client", "http.cookiejar", "imaplib", "inspect", "mailbox", "optparse",
    "pathlib", "pdb", "pickle", "pydoc", "shutil", "smtplib", "subprocess", "tarfile", "textwrap",
    "threading", "tokenize", "traceback", "typing", "urllib.parse", "urllib.request", "zipfile",
)  # fmt: skip

_ECHO_DAEMON = """
import os, sys
fd_in, fd_out = sys.stdin.fileno(), sys.stdout.fileno()
buffer = b""
while chunk := os.read(fd_in, 65536):
    buffer += chunk
    cut = buffer.rfind(b"\\n") + 1
    if cut:
        os.write(fd_out, buffer[:cut])
        buffer = buffer[cut:]
"""


def sample_functions(min_lines: int = 20, max_lines: int = 40) -> list[str]:
    """Functions (and methods, dedented) of `min_lines`..`max_lines` lines from the standard library."""
    functions = []
    for name in _SOURCE_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        with open(spec.origin, encoding="utf-8") as handle:
            source = handle.read()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if min_lines <= length <= max_lines:
                    segment = ast.get_source_segment(source, node, padded=True)
                    if segment and _parses(function := textwrap.dedent(segment)):
                        functions.append(function)
    return functions


def _parses(source: str) -> bool:
    """Whether a dedented function stands alone (a string less indented than its body does not)."""
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def distinct_sources(functions: Sequence[str]) -> Iterator[str]:
    """An endless stream of different code: each function renamed with a counter on every pass."""
    counter = 0
    while True:
        for function in functions:
            counter += 1
            head, _, rest = function.partition("(")
            yield f"{head}_{counter}({rest}"


class LinePipe:
    """A spawned process spoken to in lines: write requests, read reply lines."""

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=env,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in = self.process.stdin.fileno()
        self._out = self.process.stdout.fileno()
        self._buffer = b""
        self._lines: list[bytes] = []

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._in, view) :]

    def read_line(self) -> bytes:
        while not self._lines:
            chunk = os.read(self._out, 1 << 16)
            if not chunk:
                raise EOFError("the process closed its stdout")
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            self._lines.extend(lines)
            self._lines.reverse()
        return self._lines.pop()

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def request(request_id: int, method: str, params: dict | None = None) -> bytes:
    message: dict = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return orjson.dumps(message) + b"\n"


@dataclass
class RoundTrips:
    median_ms: float
    p99_ms: float


def sequential(pipe: LinePipe, lines: Sequence[bytes]) -> RoundTrips:
    """One request at a time: write, wait for the reply, next."""
    times = []
    for line in lines:
        started = time.perf_counter()
        pipe.write(line)
        reply = pipe.read_line()
        times.append(time.perf_counter() - started)
        _check(reply)
    times.sort()
    return RoundTrips(statistics.median(times) * 1e3, times[int(len(times) * 0.99) - 1] * 1e3)


def pipelined(pipe: LinePipe, lines: Sequence[bytes], window: int) -> float:
    """Keep `window` requests in flight (a writer thread, this thread reading); messages per second."""
    slots = threading.Semaphore(window)

    def write_all() -> None:
        for line in lines:
            slots.acquire()
            pipe.write(line)

    started = time.perf_counter()
    writer = threading.Thread(target=write_all, daemon=True)
    writer.start()
    for _ in lines:
        _check(pipe.read_line())
        slots.release()
    elapsed = time.perf_counter() - started
    writer.join(10)
    return len(lines) / elapsed


def _check(reply: bytes) -> None:
    if b'"error":{' in reply:
        raise RuntimeError(f"the daemon answered an error: {reply[:300]!r}")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process (KiB), from /proc."""
    figures = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                figures[key] = int(value.split()[0])
    return figures


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system) used so far by a process and by its descendants still running.

    Noise-proof where wall-clock rates are not: on a busy machine the work per request stays put.
    """
    return _cpu_of(pid), sum(_cpu_of(child) for child in descendants_of(pid))


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants_of(pid: int) -> list[int]:
    """Every process below `pid` (worker processes may hang under a fork server)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, its_parent in parents.items() if its_parent == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def model_floor(lines: Sequence[bytes]) -> tuple[float, float]:
    """The Predictor alone on the same code: median ms for one function, and ms per function at batch 64."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")  # as in the daemon (effective if numpy is not loaded yet)
    from model.predictor import Predictor

    predictor = Predictor()
    predictor.load()
    codes = [orjson.loads(line)["params"]["code"] for line in lines]
    times = []
    for code in codes:
        started = time.perf_counter()
        predictor.predict_sources([code])
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, len(codes), 64):
        predictor.predict_sources(codes[start : start + 64])
    per_function = (time.perf_counter() - started) / len(codes)
    return statistics.median(times) * 1e3, per_function * 1e3


def _predict_lines(sources: Iterator[str], first_id: int, count: int, path: str | None = None) -> list[bytes]:
    """`count` predict requests, each with new code (and `path`, when given)."""
    extra = {"path": path} if path else {}
    return [request(first_id + i, "predict", {"code": next(sources), **extra}) for i in range(count)]


_STAND_IN_MODEL = '''
import importlib.abc, importlib.machinery, sys

class _InstantPredictions(importlib.abc.MetaPathFinder):
    """Loads model.predictor, then makes predict_sources answer at once (no graph, no forward)."""

    def find_spec(self, name, path, target=None):
        if name != "model.predictor":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            from model.prediction import Prediction

            module.Predictor.predict_sources = lambda self, sources, **_: [Prediction(0.5) for _ in sources]

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _InstantPredictions())
'''
"""A sitecustomize for the daemon's own-cost run: the real daemon, a model that costs nothing."""


@dataclass
class DaemonRun:
    first_ping_ms: float
    model_ready_ms: float
    sequential: RoundTrips
    rate: float
    cpu_ms: dict[str, tuple[float, float]]
    """Per phase: CPU ms per prediction of the daemon and of its worker processes."""
    memory: dict[str, int]
    child_memory: list[dict[str, int]]
    exit_code: int


_INDEXING_S = 3.0


def run_daemon(
    command: Sequence[str], sources: Iterator[str], args: argparse.Namespace, env: dict[str, str] | None = None
) -> DaemonRun:
    """Spawn, time the first ping and first prediction, warm up, then measure both phases."""
    started = time.perf_counter()
    daemon = LinePipe(command, env=env)
    daemon.write(request(0, "ping"))
    _check(daemon.read_line())
    first_ping_ms = (time.perf_counter() - started) * 1e3
    daemon.write(request(1, "predict", {"code": next(sources)}))
    _check(daemon.read_line())
    model_ready_ms = (time.perf_counter() - started) * 1e3
    path = args.path
    for warm_line in _predict_lines(sources, 10, 50, path):  # warm caches and code paths, not measured
        daemon.write(warm_line)
        daemon.read_line()
    if path:
        time.sleep(_INDEXING_S)  # the first request with a path starts indexing its project
    pipelined(daemon, _predict_lines(sources, 100, 300, path), args.window)  # a burst starts any workers
    pid = daemon.process.pid
    cpu_before = cpu_seconds(pid)
    seq = sequential(daemon, _predict_lines(sources, 1_000_000, args.sequential, path))
    cpu_seq = cpu_seconds(pid)
    rate = pipelined(daemon, _predict_lines(sources, 2_000_000, args.pipelined, path), args.window)
    cpu_pipe = cpu_seconds(pid)
    memory = memory_kib(pid)
    child_memory = [memory_kib(child) for child in descendants_of(pid)]
    cpu_ms = {
        phase: ((end[0] - start[0]) / count * 1e3, (end[1] - start[1]) / count * 1e3)
        for phase, start, end, count in (
            ("sequential", cpu_before, cpu_seq, args.sequential),
            ("pipelined", cpu_seq, cpu_pipe, args.pipelined),
        )
    }
    return DaemonRun(first_ping_ms, model_ready_ms, seq, rate, cpu_ms, memory, child_memory, daemon.close())


def stand_in_environment(directory: str) -> dict[str, str]:
    """The environment that gives a spawned daemon the instant stand-in model."""
    with open(os.path.join(directory, "sitecustomize.py"), "w") as handle:
        handle.write(_STAND_IN_MODEL)
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [directory, os.environ.get("PYTHONPATH")])))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequential", type=int, default=1000, help="sequential predict requests")
    parser.add_argument("--pipelined", type=int, default=6000, help="pipelined predict requests")
    parser.add_argument("--window", type=int, default=64, help="requests in flight when pipelined")
    parser.add_argument("--path", default=None,
                        help="send this file path with every predict, so the daemon also uses the index of "
                        f"its project (built during warm-up; {_INDEXING_S:.0f} s are allowed for it), e.g. "
                        "model/snippet.py in this repository")
    parser.add_argument("daemon_args", nargs="*", help="extra flags for the daemon (after --)")
    args = parser.parse_args(argv)

    functions = sample_functions()
    sources = distinct_sources(functions)
    mean_lines = statistics.mean(f.count("\n") + 1 for f in functions)
    print(f"machine: {describe_machine()}")
    print(f"code: {len(functions)} standard-library functions, mean {mean_lines:.1f} lines, one per request"
          + (f", each with path {args.path}" if args.path else ""))

    command = [sys.executable, "-m", "bridge", *args.daemon_args]
    real = run_daemon(command, sources, args)
    with tempfile.TemporaryDirectory() as directory:
        own = run_daemon(command, sources, args, env=stand_in_environment(directory))
    sample = _predict_lines(sources, 3_000_000, max(args.sequential, 1))
    echo = LinePipe([sys.executable, "-c", _ECHO_DAEMON])
    echo_seq = sequential(echo, sample)
    echo_rate = pipelined(echo, sample * max(1, args.pipelined // len(sample)), args.window)
    echo.close()
    floor_one, floor_batch = model_floor(sample[:256])

    print(f"spawn to first ping reply:    {real.first_ping_ms:8.1f} ms")
    print(f"spawn to model ready:         {real.model_ready_ms:8.1f} ms (first predict answered)")
    print(
        f"sequential predict round trip: median {real.sequential.median_ms:.3f} ms, "
        f"p99 {real.sequential.p99_ms:.3f} ms ({args.sequential} requests)"
    )
    print(
        f"pipelined predict throughput:  {real.rate:,.0f} predictions/s "
        f"(window {args.window}, {args.pipelined} requests)"
    )
    for phase, (daemon_ms, workers_ms) in real.cpu_ms.items():
        print(f"CPU per prediction, {phase}: daemon {daemon_ms:.3f} ms, its worker processes {workers_ms:.3f} ms")
    print("floors measured in the same run, to read the figures above against:")
    print(
        f"  echo daemon over the same pipe: median {echo_seq.median_ms:.3f} ms, "
        f"p99 {echo_seq.p99_ms:.3f} ms; pipelined {echo_rate:,.0f} messages/s"
    )
    print(
        f"  the daemon with an instant stand-in model (its own cost): median {own.sequential.median_ms:.3f} ms, "
        f"p99 {own.sequential.p99_ms:.3f} ms; pipelined {own.rate:,.0f} predictions/s, "
        f"CPU {own.cpu_ms['pipelined'][0]:.3f} ms per prediction"
    )
    print(
        f"  the model alone in this process (1 thread): one function {floor_one:.3f} ms median; "
        f"batches of 64: {floor_batch:.3f} ms per function"
    )
    print(f"daemon memory: VmRSS {real.memory['VmRSS'] / 1024:.1f} MiB, VmHWM {real.memory['VmHWM'] / 1024:.1f} MiB")
    for index, figures in enumerate(real.child_memory):
        print(
            f"child process {index} memory: VmRSS {figures['VmRSS'] / 1024:.1f} MiB, "
            f"VmHWM {figures['VmHWM'] / 1024:.1f} MiB"
        )
    print(f"daemon exit code at end of input: {real.exit_code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
