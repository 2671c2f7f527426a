"""Executed labels from the standard library's own tests: the program, shadowing, the labels, the cache."""

from __future__ import annotations

import ast
import sysconfig
from pathlib import Path

import pytest

import training.stdlib_tests as stdlib_tests
from training.mutations import normalise_source
from training.sandbox import run_tests
from training.stdlib_tests import candidate_modules, judging_program, label_stdlib

STDLIB = Path(sysconfig.get_paths()["stdlib"])

pytestmark = pytest.mark.skipif(not (STDLIB / "test" / "test_secrets.py").is_file(),
                                reason="this Python ships without its test suite")


def _secrets() -> str:
    return normalise_source((STDLIB / "secrets.py").read_text(encoding="utf-8"))


def test_the_clean_module_passes_its_own_tests_and_a_broken_copy_fails_them():
    assert run_tests(judging_program("secrets", _secrets()), timeout_s=20).status == "passed"
    broken = _secrets() + "\n\ndef token_hex(nbytes=None):\n    return ''\n"
    result = run_tests(judging_program("secrets", broken), timeout_s=20)
    assert result.status == "failed" and "failures" in result.detail


def test_a_module_the_interpreter_imported_first_cannot_be_judged_and_says_so():
    clean = normalise_source((STDLIB / "posixpath.py").read_text(encoding="utf-8"))
    result = run_tests(judging_program("posixpath", clean), timeout_s=20)
    assert result.status == "failed" and "not the copy" in result.detail


def test_candidates_are_public_modules_of_one_split_with_a_test_module(monkeypatch, tmp_path):
    modules = candidate_modules("test")
    assert modules == sorted(modules) and modules
    assert all((STDLIB / "test" / f"test_{m}.py").is_file() and not m.startswith("_") for m in modules)
    assert not set(modules) & set(candidate_modules("train"))
    monkeypatch.setattr(stdlib_tests, "_stdlib", lambda: tmp_path)  # a Python without Lib/test
    assert candidate_modules("test") == []


def test_labels_cover_every_scope_clean_and_mutants_by_their_tests_and_a_rerun_reads_the_cache(
        monkeypatch, tmp_path):
    monkeypatch.setattr(stdlib_tests, "candidate_modules", lambda split, seed=0: ["secrets"])
    samples = label_stdlib("test", per_module=3, cache=tmp_path, workers=1, timeout_s=3)
    clean = [s for s in samples if s.kind is None]
    mutated = [s for s in samples if s.kind is not None]
    scopes = [n.name for n in ast.parse(_secrets()).body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert [s.problem_id for s in clean] == [f"secrets.{name}" for name in scopes]
    assert all(s.passed for s in clean) and len(mutated) == 3
    assert all(s.status in ("passed", "failed", "error", "timeout", "crashed") for s in mutated)
    for sample in mutated:
        tree = ast.parse(sample.source)  # the scope alone, as a host would send it
        assert f"secrets.{tree.body[0].name}" == sample.problem_id and sample.line >= 1

    def no_runs(*args, **kwargs):
        raise AssertionError("a cached verdict was run again")

    monkeypatch.setattr(stdlib_tests, "judge_programs", no_runs)
    assert label_stdlib("test", per_module=3, cache=tmp_path, workers=1, timeout_s=3) == samples
