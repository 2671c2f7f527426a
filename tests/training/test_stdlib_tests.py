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


def test_a_module_whose_tests_never_call_its_code_is_left_out(monkeypatch, tmp_path):
    monkeypatch.setattr(stdlib_tests, "candidate_modules", lambda split, seed=0: ["code", "secrets"])
    tested = stdlib_tests.tested_modules("test", cache=tmp_path, workers=1)
    assert set(tested) == {"secrets"}  # test_code.py tests code objects, never the `code` module
    source, called = tested["secrets"]
    assert source == _secrets()
    scopes = [node.name for node in stdlib_tests._called_scopes(source, called)]
    assert scopes == ["randbelow", "token_bytes", "token_hex", "token_urlsafe"]


def test_the_trace_names_the_functions_the_tests_ran_and_not_one_they_never_call():
    source = _secrets() + "\n\ndef never_called():\n    return 1\n"
    result = run_tests(judging_program("secrets", source, trace=True), timeout_s=20)
    called = stdlib_tests._called_functions(source, result.output)
    spans = dict(stdlib_tests._function_spans(source))
    never = max(spans)  # the function added last
    assert result.passed and never not in called and len(called) == len(spans) - 1
    assert stdlib_tests._called_functions(source, "partial" + result.output) == frozenset()  # no marker first


def test_code_counts_as_run_inside_a_called_function_or_a_class_body_only():
    source = "class C:\n    x = 1\n\n    def used(self):\n        return 2\n\n    def unused(self):\n        return 3\n"
    spans = stdlib_tests._function_spans(source)
    called = frozenset({4})  # `used` starts on line 4
    assert [stdlib_tests._runs(line, spans, called) for line in (2, 5, 8)] == [True, True, False]


def test_labels_cover_the_called_scopes_clean_and_mutants_by_their_tests_and_a_rerun_reads_the_cache(
        monkeypatch, tmp_path):
    monkeypatch.setattr(stdlib_tests, "candidate_modules", lambda split, seed=0: ["secrets"])
    samples = label_stdlib("test", per_module=3, cache=tmp_path, workers=1, timeout_s=3)
    clean = {s.problem_id: s for s in samples if s.kind is None}
    mutated = [s for s in samples if s.kind is not None]
    source, called = stdlib_tests.tested_modules("test", cache=tmp_path, workers=1, timeout_s=3)["secrets"]
    assert set(clean) == {f"secrets.{node.name}" for node in stdlib_tests._called_scopes(source, called)}
    assert all(s.passed for s in clean.values()) and len(mutated) == 3
    assert all(s.status in ("passed", "failed", "error", "timeout", "crashed") for s in mutated)
    for sample in mutated:
        tree = ast.parse(sample.source)  # the scope alone, as a host would send it
        assert f"secrets.{tree.body[0].name}" == sample.problem_id
        assert sample.source != clean[sample.problem_id].source
        after = sample.description.split(" -> ")[1].strip("`")
        line = sample.source.splitlines()[sample.line - 1]
        assert line[sample.column - 1:].startswith(after)  # the rewrite sits where the sample says

    def no_runs(*args, **kwargs):
        raise AssertionError("a cached verdict was run again")

    monkeypatch.setattr(stdlib_tests, "judge_programs", no_runs)
    if all(s.status != "timeout" for s in mutated):  # a timeout is run again, by design
        assert label_stdlib("test", per_module=3, cache=tmp_path, workers=1, timeout_s=3) == samples


def test_a_scope_is_sent_with_its_decorators():
    source = normalise_source("import functools\n\n@functools.cache\ndef f(x):\n    return x + 1\n")
    node = stdlib_tests._scopes(source)[0]
    assert stdlib_tests._segment(source, node) == ("@functools.cache\ndef f(x):\n    return x + 1\n", 3)
