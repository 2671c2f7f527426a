"""Executed-test labels beyond HumanEval: mutants of standard-library modules, judged by the standard
library's own test suite (``Lib/test/test_<module>.py``).

Owns `tested_modules` (the single-file modules of a split that can be judged: their test module
exists and passes on the normalised clean source within a time limit, run against that copy, and
which of the copy's functions those tests run), `judge_programs` (each module source against its
tests, in the sandbox) and `label_stdlib` (the top-level functions and classes holding code the tests
ran, clean and with mutants of that code, each labelled by whether its module still passes its
tests; cached on disk). Leaves to others: running code (training/sandbox.py), making mutants
(training/mutations.py), scoring and metrics (training/evaluate.py).

Why: HumanEval's 164 problems are one style of code, and the daemon meets library code too. As with
HumanEval, a mutant that survives is a real positive: the module's own tests cannot tell it from the
original. Only code the tests run in their own process is used: a function they never call (a Tk
class under headless tests, a method no test reaches, `test_code.py`, which tests code objects and
not the `code` module) or call only in a child interpreter (`python -m gzip`, which imports the real
module) would "survive" any mutant, and say nothing.

The module under test is shadowed: its (mutated) copy sits in a temporary directory put first on
``sys.path``, and the run fails unless the module it imports is that copy. A module that the
interpreter, the sandbox or unittest import first (os, re, functools, ...) cannot be shadowed so, and
is left out with those whose tests fail, or are slow, on the clean source. The clean run also traces
which functions of the copy run (``sys.settrace``: call events, and a generator's or coroutine's
first line, since one closed unstarted gets a call event too), and prints their first lines after a
marker as its last line. A mutant is kept when its line lies in a function that ran, or in no
function (a class body runs at import). The trace can miss calls, never invent them: in a thread
started before it, or in tests that set their own tracer (bdb, pdb, trace), which only leaves fewer
samples; a test that imports the module again counts its import-time calls. A missing test suite
(some Python builds ship without it) leaves no module, never an error.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import random
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import orjson

from model.checkpoint import write_atomically
from training.cache import cache_dir, mark_used
from training.corpus import split_of
from training.humaneval import ExecutedSample, summarise
from training.mutations import Mutant, mutants, normalise_source
from training.sandbox import RunResult, network_isolation, run_many

__all__ = ["candidate_modules", "judge_programs", "judging_program", "label_stdlib", "tested_modules"]

RESULTS_VERSION = 2
"""Part of the cache's name and of every result's key: bump when what a run means changes."""

CLEAN_LIMIT_S = 6.0
"""A module whose clean, traced tests take longer is left out (untraced, test_datetime takes 17 s
here and test_queue 8; the rest under 1 s)."""

TIMEOUT_S = 10.0
"""Per run by default: a mutant may make the tests loop or wait where the clean module does not."""

MEMORY_MB = 1024

_PROGRAM = """\
import io, os, sys, unittest
directory = os.path.join(os.getcwd(), "under_test")
os.mkdir(directory)
path = os.path.join(directory, {filename!r})
with open(path, "w", encoding="utf-8") as handle:
    handle.write({source!r})
sys.path.insert(0, directory)
import {module}
assert {module}.__file__ == path, "the module under test is not the copy: " + str({module}.__file__)
suite = unittest.defaultTestLoader.loadTestsFromName("test.test_{module}")
{trace_on}result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
{trace_off}assert result.testsRun > 0, "no tests ran"
assert result.wasSuccessful(), f"{{len(result.failures)}} failures, {{len(result.errors)}} errors"
"""

_TRACE_ON = """\
import threading
called = set()
def _ran(frame, event, arg):  # a generator's or coroutine's first line: its body really ran
    if event == "line":
        called.add(frame.f_code.co_firstlineno)
        return None
    return _ran
def _trace(frame, event, arg):  # calls of the copy's functions; no line events but for generators
    code = frame.f_code
    if code.co_filename != path or not code.co_flags & 0x1:  # CO_OPTIMIZED: a function, not a class body
        return None
    if code.co_flags & 0x2A0:  # a generator or coroutine closed unstarted still gets a call event
        return _ran
    called.add(code.co_firstlineno)
    return None
sys.settrace(_trace)
threading.settrace(_trace)
"""

_TRACE_OFF = """\
sys.settrace(None)
threading.settrace(None)
print("\\n{marker}", *sorted(called.copy()))
"""

_CALLED_MARKER = "yantra-called-lines:"
"""Starts the traced run's last line; output without it gives no coverage, so no module."""


def judging_program(module: str, source: str, *, trace: bool = False) -> str:
    """A sandbox program: write `source` as `module` in its working directory, import that copy first,
    and run the module's tests (an AssertionError, "failed", when any fails). With `trace`, its last
    printed line gives the first line of each function of the copy that the tests ran."""
    return _PROGRAM.format(module=module, filename=f"{module}.py", source=source,
                           trace_on=_TRACE_ON if trace else "",
                           trace_off=_TRACE_OFF.format(marker=_CALLED_MARKER) if trace else "")


def judge_programs(programs: Sequence[str], *, workers: int = 2, timeout_s: float = TIMEOUT_S) -> list[RunResult]:
    """Each program's verdict, in order (`run_many` with this module's memory limit)."""
    return list(run_many(programs, workers=workers, timeout_s=timeout_s, memory_mb=MEMORY_MB, desc="stdlib tests"))


def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def candidate_modules(split: str, *, seed: int = 0) -> list[str]:
    """Public single-file stdlib modules of `split` (the corpus's split by package) with a test module."""
    stdlib = _stdlib()
    tests = stdlib / "test"
    if not tests.is_dir():
        return []
    return sorted(
        path.stem for path in stdlib.glob("*.py")
        if not path.stem.startswith("_") and (tests / f"test_{path.stem}.py").is_file()
        and split_of(path.stem, seed=seed) == split
    )


def tested_modules(split: str, *, seed: int = 0, workers: int = 2, timeout_s: float = TIMEOUT_S,
                   cache: Path | None = None) -> dict[str, tuple[str, frozenset[int]]]:
    """module -> (its normalised clean source, the first lines of the functions its tests call), for
    the `split` modules whose tests pass on that source quickly and call at least one of them."""
    clean = {}
    for module in candidate_modules(split, seed=seed):
        try:
            clean[module] = normalise_source((_stdlib() / f"{module}.py").read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, RecursionError, ValueError):
            continue
    programs = {module: judging_program(module, source, trace=True) for module, source in clean.items()}
    results = _judge_cached(list(programs.values()), workers=workers, timeout_s=timeout_s, cache=cache)
    tested = {}
    for module, result in zip(programs, results, strict=True):
        called = _called_functions(clean[module], result.get("output", ""))
        if result["passed"] and result["duration_s"] <= CLEAN_LIMIT_S and called:
            tested[module] = (clean[module], called)
    return tested


def _called_functions(source: str, output: str) -> frozenset[int]:
    """The first lines (a decorator's, if any, as in `co_firstlineno`) of the functions in `source`
    that the traced run's `output` says ran; empty when its marker line is missing."""
    if not output.startswith(_CALLED_MARKER):
        return frozenset()
    lines = {int(word) for word in output.removeprefix(_CALLED_MARKER).split() if word.isdigit()}
    return frozenset(first for first, _ in _function_spans(source) if first in lines)


def _function_spans(source: str) -> list[tuple[int, int]]:
    """(first line, last line) of every function and method in `source`, nested ones too."""
    return [(_first_line(node), node.end_lineno or node.lineno)
            for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    """Where a definition starts: its first decorator's line if it has one (as `co_firstlineno`)."""
    return min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])


def _runs(line: int, spans: list[tuple[int, int]], called: frozenset[int]) -> bool:
    """Whether code on `line` ran in the clean run: its innermost function was called, or it is in
    no function at all (a class body runs at import)."""
    around = [first for first, last in spans if first <= line <= last]
    return not around or max(around) in called


def _scopes(source: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    return [node for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]


def _segment(source: str, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> tuple[str, int]:
    """The code of a top-level function or class, its decorators included (what a host would send),
    and the line it starts on. Normalised source puts each on whole lines of its own."""
    first = _first_line(node)
    return "\n".join(source.splitlines()[first - 1: node.end_lineno]) + "\n", first


def _scope_named(source: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef:
    """The first top-level definition of `name`, as `mutations.mutants(scope=...)` rewrites it."""
    return next(node for node in _scopes(source) if node.name == name)


def _called_scopes(source: str, called: frozenset[int]) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """The top-level functions and classes in which at least one called function lies."""
    return [node for node in _scopes(source)
            if any(_first_line(node) <= line <= (node.end_lineno or 0) for line in called)]


def _module_mutants(module: str, source: str, scopes: Sequence[str], called: frozenset[int], per_module: int,
                    seed: int) -> list[tuple[str, Mutant]]:
    """Up to `per_module` (scope, mutant) pairs in the `scopes` named, each rewriting code the clean run
    ran: one of each kind per scope that holds some, then a seeded sample."""
    rng = random.Random(f"{seed}:stdlib:{module}")
    spans = _function_spans(source)
    pairs = []
    for name in scopes:
        ran = [m for m in mutants(source, rng=rng, max_per_kind=4, scope=name) if _runs(m.line, spans, called)]
        pairs += [(name, mutant) for mutant in {m.kind: m for m in reversed(ran)}.values()]  # each kind's first
    chosen = sorted(rng.sample(range(len(pairs)), min(per_module, len(pairs))))
    return [pairs[i] for i in chosen]


def label_stdlib(split: str = "test", *, per_module: int = 40, seed: int = 0, workers: int = 2,
                 timeout_s: float = TIMEOUT_S, cache: Path | None = None) -> list[ExecutedSample]:
    """The top-level functions and classes that the tests of the `split`'s tested modules call (clean:
    passed), and up to `per_module` mutants of them per module, each labelled by its module's tests;
    `problem_id` is "module.scope", `source` the scope's code alone (what a host would send), line and
    column within it."""
    modules = tested_modules(split, seed=seed, workers=workers, timeout_s=timeout_s, cache=cache)
    samples: list[ExecutedSample] = []
    programs: list[str] = []
    for module, (source, called) in modules.items():
        scopes = _called_scopes(source, called)
        samples += [ExecutedSample(f"{module}.{node.name}", _segment(source, node)[0], None, True, "passed")
                    for node in scopes]
        names = list(dict.fromkeys(node.name for node in scopes))
        for scope, mutant in _module_mutants(module, source, names, called, per_module, seed):
            segment, first = _segment(mutant.source, _scope_named(mutant.source, scope))
            samples.append(ExecutedSample(f"{module}.{scope}", segment, mutant.kind, False, "pending",
                                          mutant.line - first + 1, mutant.column, mutant.description))
            programs.append(judging_program(module, mutant.source))
    results = iter(_judge_cached(programs, workers=workers, timeout_s=timeout_s, cache=cache))
    return [s if s.kind is None else ExecutedSample(**{**asdict(s), **_verdict(next(results))}) for s in samples]


def _verdict(result: dict) -> dict:
    return {"passed": result["passed"], "status": result["status"]}


def _judge_cached(programs: Sequence[str], *, workers: int, timeout_s: float, cache: Path | None) -> list[dict]:
    """Verdicts for `programs`, in order; those in the cache (same program, interpreter, sandbox, time
    limit and version) are not run again. A timeout, or a run slower than a clean one may be, is not
    kept: on a busy machine it may be the machine's, so it is run again next time."""
    path = (cache or cache_dir()) / f"stdlib-results-v{RESULTS_VERSION}.json"
    results: dict[str, dict] = {}
    if path.is_file():
        mark_used(path)
        results = orjson.loads(path.read_bytes())
    keys = [_cache_key(p, timeout_s) for p in programs]
    missing = sorted({k: p for k, p in zip(keys, programs, strict=True) if k not in results}.items())
    if missing:
        verdicts = judge_programs([p for _, p in missing], workers=workers, timeout_s=timeout_s)
        fresh = {key: {"passed": result.passed, "status": result.status, "detail": result.detail,
                       "duration_s": round(result.duration_s, 3),
                       **({"output": result.output} if result.output.startswith(_CALLED_MARKER) else {})}
                 for (key, _), result in zip(missing, verdicts, strict=True)}
        results.update(fresh)
        kept = {key: value for key, value in results.items()
                if value["status"] != "timeout" and value["duration_s"] <= CLEAN_LIMIT_S}
        write_atomically(path, orjson.dumps(kept, option=orjson.OPT_SORT_KEYS))
    return [results[k] for k in keys]


def _cache_key(program: str, timeout_s: float) -> str:
    """The interpreter (its test suite is the judge) and the sandbox (no network namespace, or limits
    that bind a non-root user, change what some tests do) are part of the key."""
    sandbox = f"{network_isolation()}:{'root' if os.geteuid() == 0 else 'user'}"
    text = f"v{RESULTS_VERSION}\0{sys.version}\0{sandbox}\0{timeout_s:g}\0{program}"
    return hashlib.sha256(text.encode()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Label stdlib mutants by running the stdlib's own tests.")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"))
    parser.add_argument("--per-module", type=int, default=40, help="mutants per module (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    samples = label_stdlib(args.split, per_module=args.per_module, seed=args.seed, workers=args.workers)
    summary = {"modules": sorted({s.problem_id.split(".")[0] for s in samples}), **summarise(samples)}
    sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
