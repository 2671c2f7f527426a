"""Run untrusted Python code against its tests in a sandboxed subprocess, never in this process.

Owns ``run_tests`` (and ``run_many``, the same for many programs at once): a fresh ``python -I``
in a temporary working directory with a clean environment, resource limits set in the child before
it runs anything (address space, CPU seconds, file size, process count, no core dumps), no network
(a new network namespace via ``unshare -rn`` when this machine allows it, and in every case
``socket`` disabled before the program starts), and the whole process group killed on timeout.
Leaves to others: what the program and its tests are (training/humaneval.py,
training/stdlib_tests.py) and caching results.

Limits of the design: it is a guard against buggy code (infinite loops, memory bombs, stray network
use, files left behind in the working directory), not a security boundary against hostile code. The
network is truly gone only in "namespace" mode (`network_isolation()`, what this machine has); the
socket patch alone stops ordinary use (`socket.socket`, `SocketType`, `create_connection`) but not
code that reaches the C layer some other way. Writes are not confined: the child may write anywhere
its user may. When the caller is root, RLIMIT_NPROC does not bind (the kernel exempts root) and the
child keeps root's file permissions: the interpreter lives under /root here, so dropping to
``nobody`` would make it unreachable.

Outcome (``RunResult.status``): "passed" (the program ran to its end), "failed" (an AssertionError:
a test said no), "error" (any other exception, a syntax error, or an early exit), "timeout" (wall
clock or CPU limit), "crashed" (MemoryError or killed by a signal).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

__all__ = ["RunResult", "network_isolation", "run_many", "run_tests"]

_EXIT_FAILED, _EXIT_ERROR, _EXIT_MEMORY = 1, 2, 3
_MAX_OUTPUT_BYTES = 8 << 20
_MAX_OUTPUT_LINE = 64 << 10
_DONE_MARKER = "done"

_BOOTSTRAP = f"""
import socket, sys, traceback
def _refuse(*args, **kwargs):
    raise OSError("network access is disabled in the sandbox")
class _NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        _refuse()
socket.socket = socket.SocketType = _NoSocket
socket.create_connection = socket.socketpair = socket.fromfd = _refuse
import _socket
_socket.socket = _socket.SocketType = _NoSocket
program_path, marker_path = sys.argv[1], sys.argv[2]
sys.argv = [program_path]
with open(program_path, encoding="utf-8") as handle:
    text = handle.read()
try:
    code = compile(text, "program.py", "exec")
    exec(code, {{"__name__": "__main__", "__builtins__": __builtins__}})
except AssertionError:
    traceback.print_exc()
    sys.exit({_EXIT_FAILED})
except MemoryError:
    sys.exit({_EXIT_MEMORY})
except BaseException:
    traceback.print_exc()
    sys.exit({_EXIT_ERROR})
with open(marker_path, "w") as handle:
    handle.write("{_DONE_MARKER}")
"""


@dataclass(frozen=True)
class RunResult:
    """How one sandboxed run ended; ``detail`` is the last line of its error output, if any."""

    passed: bool
    status: str
    duration_s: float
    detail: str
    output: str = ""
    """The last line the program printed (up to 64 KiB): how a program hands back a result."""


@functools.cache
def network_isolation() -> str:
    """"namespace" when ``unshare -rn`` works here (no network device at all), else "socket-patch"."""
    if shutil.which("unshare") is None:
        return "socket-patch"
    try:
        probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "socket-patch"
    return "namespace" if probe.returncode == 0 else "socket-patch"


def _limit_child(memory_mb: int, cpu_s: int) -> None:
    """Runs in the forked child before exec: caps it before any untrusted code exists."""
    memory = memory_mb << 20
    for limit, value in (
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_CPU, cpu_s),
        (resource.RLIMIT_FSIZE, _MAX_OUTPUT_BYTES),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, 0),
    ):
        # A limit the platform refuses (e.g. one above its hard cap) stays as it was.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, (value, value))


def _command(program: Path, marker: Path) -> list[str]:
    prefix = ["unshare", "-rn"] if network_isolation() == "namespace" else []
    return [*prefix, sys.executable, "-I", "-c", _BOOTSTRAP, str(program), str(marker)]


def _last_line(path: Path, limit: int = 300) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""


def _status(returncode: int, finished: bool) -> str:
    if returncode == 0:
        return "passed" if finished else "error"
    if returncode == _EXIT_FAILED:
        return "failed"
    if returncode == _EXIT_MEMORY:
        return "crashed"
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return "timeout"  # the CPU limit: soft sends SIGXCPU, hard SIGKILL
    return "crashed" if returncode < 0 else "error"


def run_tests(program: str, *, timeout_s: float = 5.0, memory_mb: int = 512) -> RunResult:
    """Run ``program`` (code followed by its tests) in a sandboxed subprocess; passed = it ran to the end.

    Blocks at most about ``timeout_s`` plus process start-up; the child's whole process group is
    killed when time is up.
    """
    with tempfile.TemporaryDirectory(prefix="yantra-sandbox-") as workdir:
        work = Path(workdir)
        source, marker = work / "program.py", work / "finished"
        source.write_text(program, encoding="utf-8")
        environment = {"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
        cpu_s = max(1, math.ceil(timeout_s)) + 1
        started = time.monotonic()
        with open(work / "stdout", "wb") as stdout, open(work / "stderr", "wb") as stderr:
            process = subprocess.Popen(
                _command(source, marker),
                cwd=workdir,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=functools.partial(_limit_child, memory_mb, cpu_s),
            )
            try:
                returncode = process.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_group(process)
                returncode, timed_out = process.wait(), True
        duration = time.monotonic() - started
        if timed_out:
            return RunResult(False, "timeout", duration, f"killed after {timeout_s:g} s")
        status = _status(returncode, marker.is_file())
        return RunResult(status == "passed", status, duration, _detail(status, returncode, work / "stderr"),
                         _last_line(work / "stdout", limit=_MAX_OUTPUT_LINE))


def _detail(status: str, returncode: int, stderr: Path) -> str:
    if status == "passed":
        return ""
    if returncode == _EXIT_MEMORY:
        return "MemoryError (address space capped)"
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return _last_line(stderr) or f"exit code {returncode} before the end of the program"


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_many(programs: Sequence[str], *, workers: int = 2, timeout_s: float = 5.0, memory_mb: int = 512,
             desc: str = "tests", progress: bool = True) -> Iterator[RunResult]:
    """``run_tests`` over ``programs``, results in order, ``workers`` at a time, with a progress bar on
    a terminal unless ``progress`` is False."""
    run = functools.partial(run_tests, timeout_s=timeout_s, memory_mb=memory_mb)
    bar = dict(total=len(programs), desc=desc, unit="run", file=sys.stderr, disable=None if progress else True)
    if workers <= 1:
        yield from tqdm(map(run, programs), **bar)
        return
    # Worker processes, not threads: the sandbox forks with a preexec_fn, unsafe under threads. Forked
    # (not spawned) so callers need no importable __main__; the pool starts before any progress thread.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        yield from tqdm(pool.map(run, programs, chunksize=4), **bar)
