"""Datasets: each builder is deterministic, cached, split by package and labelled as the task needs."""

from __future__ import annotations

import ast
import dataclasses
import sysconfig
from pathlib import Path

import pytest

from training.corpus import split_of
from training.datasets import (
    DataConfig,
    bug_samples,
    corpus_units,
    embedding_triples,
    executed_samples,
    import_samples,
    import_vocabulary,
    mutants_of_kind,
    training_mutants,
)
from training.mutations import normalise_source

CODE = '''
import json
import os.path


def load(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path) as handle:
        return json.load(handle)


def scale(values, factor):
    result = []
    for i in range(len(values)):
        if values[i] > 0 and factor != 0:
            result.append(values[i] * factor - 1)
    return result


def pick(record, name, fallback):
    if isinstance(record, dict):
        return record.get(name, fallback)
    return getattr(record, name, fallback)
'''


@pytest.fixture
def config(tmp_path: Path) -> DataConfig:
    for package in ("alpha", "beta"):
        (tmp_path / "src" / package).mkdir(parents=True)
        (tmp_path / "src" / package / "__init__.py").write_text("")
        (tmp_path / "src" / package / "code.py").write_text(CODE.replace("scale", f"scale_{package}"))
    return DataConfig.smoke(roots=(str(tmp_path / "src"),), cache_dir=str(tmp_path / "cache"))


def test_import_samples_carry_the_modules_their_code_uses(config: DataConfig):
    samples = {s.source.split("(")[0]: s for s in import_samples(config)}
    assert samples["def load"].modules == ("json", "os.path")
    assert all("import" not in s.source for s in samples.values())
    assert import_vocabulary(list(samples.values()), 5) == ["json", "os.path"]


def test_bug_samples_pair_each_clean_unit_with_one_mutant_in_the_same_group(config: DataConfig):
    samples = bug_samples(config)
    clean = [s for s in samples if not s.buggy]
    buggy = [s for s in samples if s.buggy]
    assert len(clean) == len(buggy) > 0
    for negative, positive in zip(clean, buggy, strict=True):
        assert negative.group == positive.group and negative.split == positive.split
        assert normalise_source(negative.source) == negative.source
        assert positive.source != negative.source and positive.line >= 1 and positive.kind


def test_training_mutants_give_each_training_unit_a_few_more_distinct_mutants(config, monkeypatch):
    monkeypatch.setattr("training.datasets.split_of", lambda package, seed: "train" if package == "alpha" else "test")
    samples = training_mutants(config, per_unit=4)
    assert samples and all(s.buggy and s.split == "train" and "/alpha/" in s.group for s in samples)
    sources_by_unit: dict[str, list[str]] = {}
    for sample in samples:
        sources_by_unit.setdefault(sample.group, []).append(sample.source)
        assert sample.line >= 1 and sample.kind and normalise_source(sample.source) == sample.source
    assert all(len(set(sources)) == len(sources) <= 4 for sources in sources_by_unit.values())
    assert max(len(sources) for sources in sources_by_unit.values()) >= 2


def test_mutants_of_one_kind_are_distinct_of_that_kind_and_of_training_units_only(config, monkeypatch):
    monkeypatch.setattr("training.datasets.split_of", lambda package, seed: "train" if package == "alpha" else "test")
    samples = mutants_of_kind(config, kind="swapped_arguments", per_unit=2)
    assert samples and all(s.buggy and s.split == "train" and "/alpha/" in s.group for s in samples)
    assert {s.kind for s in samples} == {"swapped_arguments"}
    by_unit: dict[str, list[str]] = {}
    for sample in samples:
        by_unit.setdefault(sample.group, []).append(sample.source)
        assert normalise_source(sample.source) == sample.source
    assert all(len(set(sources)) == len(sources) <= 2 for sources in by_unit.values())
    uncached = DataConfig(**{**config.__dict__, "use_cache": False})
    assert mutants_of_kind(uncached, kind="swapped_arguments", per_unit=2) == samples  # seeded, not read back


def test_embedding_triples_hold_a_variant_and_a_mutant_of_the_anchor(config: DataConfig):
    triples = embedding_triples(config)
    assert triples
    for triple in triples:
        assert len({triple.anchor, triple.positive, triple.negative}) == 3
        ast.parse(triple.positive)
        ast.parse(triple.negative)


def test_builders_are_deterministic_and_a_second_call_reads_the_cache(config: DataConfig, monkeypatch):
    first = bug_samples(config)
    assert bug_samples(DataConfig(**{**config.__dict__, "use_cache": False})) == first

    def refuse(*args, **kwargs):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr("training.datasets._bug_pair", refuse)
    assert bug_samples(config) == first


def test_a_fix_to_the_code_that_builds_samples_rebuilds_them(config: DataConfig, monkeypatch):
    first = bug_samples(config)
    monkeypatch.setattr("training.datasets.code_key", lambda *modules: "a rewrite as fixed")
    calls = []
    monkeypatch.setattr("training.datasets._bug_pair", lambda *args: calls.append(args) or [])
    assert bug_samples(config) == [] and len(calls) == len(corpus_units(config)) and first


def test_no_progress_bar_is_drawn_when_asked_and_the_choice_is_no_part_of_the_cache_key(config: DataConfig,
                                                                                         monkeypatch):
    first = bug_samples(config)
    bars = []

    def recording(iterable=None, **options):
        bars.append(options["disable"])
        return iterable

    monkeypatch.setattr("training.datasets.tqdm", recording)
    monkeypatch.setattr("training.corpus.tqdm", recording)
    quiet = dataclasses.replace(config, progress=False)
    assert bug_samples(dataclasses.replace(quiet, use_cache=False)) == first
    assert bars and all(disable is True for disable in bars)
    monkeypatch.setattr("training.datasets._bug_pair", lambda *args: [])  # a rebuild would come out empty
    assert bug_samples(quiet) == first


def test_samples_of_one_package_share_a_split(config: DataConfig):
    units = corpus_units(config)
    assert {u.package for u in units} == {"alpha", "beta"}
    for samples in (import_samples(config, units), bug_samples(config, units)):
        splits = {}
        for sample in samples:
            package = sample.group.split("/src/")[-1].split("/")[0] if "/" in sample.group else sample.group
            splits.setdefault(package, set()).add(sample.split)
        assert all(len(s) == 1 for s in splits.values())


def test_executed_samples_are_grouped_by_problem(config: DataConfig):
    grouped = executed_samples(DataConfig.smoke(cache_dir=config.cache_dir, humaneval_limit=2))
    assert list(grouped) == ["HumanEval/0", "HumanEval/1"]
    for problem_id, samples in grouped.items():
        assert all(s.problem_id == problem_id for s in samples)
        assert samples[0].kind is None and samples[0].passed


def test_smoke_data_comes_from_the_stdlib_alone_so_a_checkout_path_cannot_change_it():
    # roots are visited in path order; a clone under /ci/... once sorted site-packages first and left
    # the smoke test split with no bug samples
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    assert DataConfig.smoke().roots == (str(stdlib),)
    assert DataConfig.smoke(roots=("/elsewhere",)).roots == ("/elsewhere",)


def test_the_smoke_corpus_reaches_every_split(tmp_path: Path):
    units = corpus_units(DataConfig.smoke(cache_dir=str(tmp_path)))
    assert {split_of(u.package) for u in units} == {"train", "validation", "test"}


def test_the_evaluation_corpus_is_the_default_one_or_the_smoke_one_with_the_runs_seed_and_cache():
    assert DataConfig.evaluation(seed=3, cache_dir="c") == DataConfig(seed=3, cache_dir="c")
    assert DataConfig.evaluation(seed=3, cache_dir="c", smoke=True) == DataConfig.smoke(seed=3, cache_dir="c")
    assert DataConfig.evaluation(seed=0, cache_dir=None, max_files=7).max_files == 7


def test_import_samples_are_rebuilt_when_only_the_labels_of_the_same_code_change(config: DataConfig):
    units = corpus_units(config)
    before = import_samples(config, units)
    relabelled = [dataclasses.replace(unit, imports=unit.imports[:-1]) if unit.imports else unit for unit in units]
    after = import_samples(config, relabelled)  # same sources: a cache keyed by code alone would answer `before`
    assert [s.statements for s in after] != [s.statements for s in before]
