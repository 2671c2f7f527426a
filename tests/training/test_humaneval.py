"""HumanEval: problems load, canonical solutions pass their tests, mutants are labelled and cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.humaneval import (
    canonical_program,
    label_humaneval,
    load_problems,
    problem_mutants,
    program_with_tests,
    summarise,
)
from training.sandbox import run_tests


def test_all_164_problems_load_in_task_order():
    problems = load_problems()
    assert len(problems) == 164
    assert [p.task_id for p in problems[:3]] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


@pytest.mark.parametrize("index", [0, 2, 32, 163])
def test_a_canonical_solution_passes_its_real_tests(index: int):
    problem = load_problems()[index]
    assert run_tests(program_with_tests(canonical_program(problem), problem)).passed


def test_a_broken_solution_fails_its_real_tests():
    problem = load_problems()[2]  # truncate_number
    broken = canonical_program(problem).replace("return number % 1.0", "return number")
    assert broken != canonical_program(problem)
    assert not run_tests(program_with_tests(broken, problem)).passed


def test_mutants_touch_only_the_entry_point_and_span_kinds():
    problem = load_problems()[10]  # has a helper (is_palindrome) before the entry point
    made = problem_mutants(problem, per_problem=6)
    assert len({m.kind for m in made}) >= 3
    helper = canonical_program(problem).split(f"def {problem.entry_point}")[0]
    assert all(m.source.startswith(helper) for m in made)


def test_labelling_runs_each_program_once_and_then_reads_the_cache(tmp_path: Path, monkeypatch):
    problems = load_problems()[:2]
    samples = label_humaneval(problems, per_problem=3, workers=2, cache=tmp_path)
    assert [s.kind is None for s in samples].count(True) == 2
    assert all(s.passed for s in samples if s.kind is None)
    assert any(not s.passed for s in samples if s.kind is not None)

    def refuse(*args, **kwargs):
        raise AssertionError("ran although cached")

    monkeypatch.setattr("training.humaneval.run_many", refuse)
    assert label_humaneval(problems, per_problem=3, workers=1, cache=tmp_path) == samples
    summary = summarise(samples)
    assert summary["canonical_passed"] == 2
    assert 0.0 <= summary["mutant_survival_rate"] < 1.0


@pytest.mark.slow
def test_every_canonical_solution_passes_and_most_mutants_fail(tmp_path: Path):
    summary = summarise(label_humaneval(per_problem=4, cache=tmp_path))
    assert summary["canonical_failures"] == []
    assert summary["mutant_survival_rate"] < 0.2
