"""Labelled samples for each training task, built deterministically from the corpus and cached on disk.

Owns: ``DataConfig`` (what to build, including a small smoke mode), the sample dataclasses the training
loop consumes (plain fields: ``source`` to featurise with the model package, labels, ``split`` and a
``group`` that keeps related samples together), the builders for import samples, bug samples (one
injected bug per unit plus its clean original), executed HumanEval samples grouped by problem and
embedding triples (anchor, semantics-preserving variant, one-bug mutant), and their on-disk cache.
Leaves to others: featurising and batching (model/), the loss and the loop (training/train.py).

Every builder is a pure function of the config and the corpus: random choices come from a
``random.Random`` seeded per unit by (seed, path, qualname, line), so adding a unit never changes
another unit's samples. A cache file is keyed by the config, the corpus and the code that builds the
samples (`SAMPLES_CODE`), so a fix to a builder, a rewrite or a label rebuilds what it changed.
"""

from __future__ import annotations

import hashlib
import random
import sys
import sysconfig
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

import orjson
from tqdm import tqdm

from model.checkpoint import write_atomically
from training.cache import cache_dir, mark_used
from training.corpus import CORPUS_CODE, CodeUnit, CorpusOptions, build_corpus, code_key, split_of
from training.humaneval import ExecutedSample, Problem, label_humaneval, load_problems
from training.imports import vocabulary
from training.mutations import MUTATIONS_VERSION, Mutant, mutants, normalise_source, one_mutant
from training.rewrites import semantic_variants

__all__ = [
    "DATASETS_VERSION",
    "SAMPLES_CODE",
    "BugSample",
    "DataConfig",
    "EmbeddingTriple",
    "ImportSample",
    "bug_samples",
    "corpus_units",
    "embedding_triples",
    "executed_samples",
    "humaneval_problems",
    "import_samples",
    "import_vocabulary",
    "mutants_of_kind",
    "training_mutants",
    "unit_packages",
]

DATASETS_VERSION = 1
"""Part of every cache file name: bump when a builder changes what it produces (the key also follows
the code itself, `SAMPLES_CODE`)."""
SAMPLES_CODE = (*CORPUS_CODE, "training.datasets", "training.mutations", "training.rewrites", "model.vocabulary")
"""The modules whose code decides the cached samples: the units, their labels, the builders, the bug
and variant rewrites and the bug kinds. Not model/sites.py, of which the rewrites use only
`character_column`: its site features change far more often than that, and each rebuild is long."""

T = TypeVar("T")


@dataclass(frozen=True)
class DataConfig:
    """What to build. ``smoke()`` gives a tiny, fast configuration for tests and smoke runs."""

    seed: int = 0
    roots: tuple[str, ...] | None = None
    max_files: int | None = None
    max_units_per_package: int | None = 2000
    humaneval_per_problem: int = 8
    humaneval_limit: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    progress: bool = True
    """Progress bars on stderr while building, on a terminal; no part of any cache key."""

    @classmethod
    def smoke(cls, **overrides: object) -> DataConfig:
        """A few dozen standard-library files, a few units per package and five HumanEval problems.

        The stdlib alone, because roots are visited in path order: with site-packages included, a
        checkout whose path sorts before the interpreter's (``/ci/...`` < ``/root/...``) would take its
        first files from a handful of installed packages and leave the test split empty.
        """
        small = cls(roots=(sysconfig.get_paths()["stdlib"],), max_files=40, max_units_per_package=30,
                    humaneval_per_problem=3, humaneval_limit=5)
        return replace(small, **overrides)

    @classmethod
    def evaluation(cls, *, seed: int, cache_dir: str | None, smoke: bool = False, max_files: int | None = None
                   ) -> DataConfig:
        """The corpus `yantra-eval` measures on (its test split), and so what a probe must compare with."""
        options: dict[str, object] = {"seed": seed, "cache_dir": cache_dir}
        if max_files is not None:
            options["max_files"] = max_files
        return cls.smoke(**options) if smoke else cls(**options)

    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else cache_dir()


@dataclass(frozen=True)
class ImportSample:
    """A unit without its imports; ``modules``/``statements`` are what it uses (the labels); ``path``
    is its file, so that its project (its package's other files) can be indexed as the daemon would."""

    source: str
    modules: tuple[str, ...]
    statements: tuple[str, ...]
    split: str
    group: str
    path: str = ""


@dataclass(frozen=True)
class BugSample:
    """A normalised unit, clean (``buggy`` False, ``kind`` None, line 0) or with one injected bug."""

    source: str
    buggy: bool
    kind: str | None
    line: int
    column: int
    description: str
    split: str
    group: str

    @classmethod
    def of_mutant(cls, mutant: Mutant, split: str, group: str) -> BugSample:
        """The buggy sample of one injected bug, labelled with its kind and place."""
        return cls(mutant.source, True, mutant.kind, mutant.line, mutant.column, mutant.description, split, group)


@dataclass(frozen=True)
class EmbeddingTriple:
    """An anchor, a variant that behaves the same (positive) and a one-bug mutant (hard negative)."""

    anchor: str
    positive: str
    negative: str
    negative_kind: str
    split: str
    group: str


# --- shared machinery ------------------------------------------------------------------------------


def corpus_units(config: DataConfig) -> list[CodeUnit]:
    """The (cached) corpus the config describes."""
    options = CorpusOptions(config.roots, config.max_files, config.max_units_per_package)
    return build_corpus(options, cache=config.cache_path(), use_cache=config.use_cache, progress=config.progress)


def _unit_group(unit: CodeUnit) -> str:
    return f"{unit.path}:{unit.line}:{unit.qualname}"


def unit_packages(units: Sequence[CodeUnit]) -> dict[str, str]:
    """Each unit's sample group (a function's clean and buggy samples share it) -> its package: what a
    bootstrap over packages redraws."""
    return {_unit_group(unit): unit.package for unit in units}


def _unit_rng(seed: int, unit: CodeUnit, purpose: str) -> random.Random:
    digest = hashlib.blake2b(f"{seed}:{purpose}:{_unit_group(unit)}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _corpus_digest(units: Sequence[CodeUnit]) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for unit in units:
        digest.update(f"{_unit_group(unit)}\0{len(unit.source)}\n".encode())
    return digest.hexdigest()


def _labels_digest(units: Sequence[CodeUnit]) -> str:
    """The units' import labels, for caches built from them: a labelling fix that leaves every unit's
    source alone (so `_corpus_digest` as it was) must still rebuild them."""
    digest = hashlib.blake2b(digest_size=12)
    for unit in units:
        digest.update(orjson.dumps([use.statement for use in unit.imports]) + b"\n")
    return digest.hexdigest()


def _cached(
    name: str,
    config: DataConfig,
    extra_key: str,
    build: Callable[[], list[T]],
    decode: Callable[[dict], T],
) -> list[T]:
    """``build()`` once per (name, version, config, corpus, code); later calls read the JSON file."""
    settings = {key: value for key, value in asdict(config).items() if key != "progress"}
    material = [DATASETS_VERSION, name, settings, extra_key, code_key(*SAMPLES_CODE)]
    key = hashlib.blake2b(orjson.dumps(material, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()
    path = config.cache_path() / f"{name}-v{DATASETS_VERSION}-{key}.json"
    if config.use_cache and path.is_file():
        mark_used(path)
        return [decode(item) for item in orjson.loads(path.read_bytes())]
    samples = build()
    if config.use_cache:
        write_atomically(path, orjson.dumps([asdict(s) for s in samples]))  # type: ignore[call-overload]
    return samples


def _progress(units: Sequence[CodeUnit], desc: str, config: DataConfig):
    return tqdm(units, desc=desc, unit="unit", file=sys.stderr, disable=None if config.progress else True)


# --- imports ---------------------------------------------------------------------------------------


def _build_import_samples(units: Sequence[CodeUnit], seed: int) -> list[ImportSample]:
    samples = []
    for unit in units:
        if unit.imports:
            modules = tuple(sorted({i.module for i in unit.imports}))
            statements = tuple(i.statement for i in unit.imports)
            split = split_of(unit.package, seed=seed)
            samples.append(ImportSample(unit.source, modules, statements, split, unit.package, unit.path))
    return samples


def import_samples(config: DataConfig, units: Sequence[CodeUnit] | None = None) -> list[ImportSample]:
    """Units that use at least one import, labelled with the modules they use; grouped by package."""
    units = corpus_units(config) if units is None else units
    return _cached(
        "imports",
        config,
        _corpus_digest(units) + ":with-path:" + _labels_digest(units),
        lambda: _build_import_samples(units, config.seed),
        lambda d: ImportSample(**{**d, "modules": tuple(d["modules"]), "statements": tuple(d["statements"])}),
    )


def import_vocabulary(samples: Sequence[ImportSample], size: int) -> list[str]:
    """The ``size`` most frequent modules in the training split (never validation or test)."""
    counts = Counter(m for s in samples if s.split == "train" for m in s.modules)
    return vocabulary(counts, size)


# --- bugs ------------------------------------------------------------------------------------------


def _bug_pair(unit: CodeUnit, seed: int) -> list[BugSample]:
    try:
        clean = normalise_source(unit.source)
        mutant = one_mutant(clean, rng=_unit_rng(seed, unit, "bug"))
    except (SyntaxError, RecursionError, ValueError):
        return []
    if mutant is None:
        return []
    split, group = split_of(unit.package, seed=seed), _unit_group(unit)
    return [BugSample(clean, False, None, 0, 0, "", split, group), BugSample.of_mutant(mutant, split, group)]


def bug_samples(config: DataConfig, units: Sequence[CodeUnit] | None = None) -> list[BugSample]:
    """For every unit that admits a bug: its clean normalised source and one mutant (same group)."""
    return _bug_samples_by_unit("bugs", config, units, _bug_pair)


def _more_mutants(unit: CodeUnit, seed: int, per_unit: int) -> list[BugSample]:
    return _training_unit_mutants(unit, seed, "more mutants", lambda clean, rng: [
        one_mutant(clean, rng=rng) for _ in range(per_unit)])


def _training_unit_mutants(unit: CodeUnit, seed: int, purpose: str,
                           draw: Callable[[str, random.Random], list[Mutant | None]]) -> list[BugSample]:
    """The distinct mutants `draw` makes of a training-split unit's normalised source (none for a unit
    of another split, or one the rewrites cannot handle), with the unit's own seeded rng for `purpose`."""
    split = split_of(unit.package, seed=seed)
    if split != "train":
        return []
    rng = _unit_rng(seed, unit, purpose)
    try:
        drawn = draw(normalise_source(unit.source), rng)
    except (SyntaxError, RecursionError, ValueError):
        return []
    unique = {m.source: m for m in drawn if m is not None}  # a draw can repeat an earlier one
    group = _unit_group(unit)
    return [BugSample.of_mutant(m, split, group) for m in unique.values()]


def training_mutants(config: DataConfig, units: Sequence[CodeUnit] | None = None, *, per_unit: int = 4
                     ) -> list[BugSample]:
    """For every training-split unit, up to `per_unit` more mutants beside `bug_samples`' pair, each of
    a kind drawn uniformly among those it admits (as the paired one is): more bugs in more contexts for
    the bug-site scorers (training/sites.py), which learn per site and see one bug per sample, without
    more clean copies of the same code."""
    return _bug_samples_by_unit(f"training-mutants-{per_unit}", config, units,
                                lambda unit, seed: _more_mutants(unit, seed, per_unit))


def mutants_of_kind(config: DataConfig, units: Sequence[CodeUnit] | None = None, *, kind: str, per_unit: int
                    ) -> list[BugSample]:
    """For every training-split unit, up to `per_unit` distinct mutants of one `kind` (at distinct
    nodes; two calls that start at one place, `a.f(x, y).g(u, v)`, both report that place): for a
    kind that few units admit and that the bug-site scorers learn call by call (swapped arguments),
    the uniform draw of `training_mutants` gives too few examples."""
    return _bug_samples_by_unit(f"training-mutants-{kind}-{per_unit}", config, units,
                                lambda unit, seed: _mutants_of_kind(unit, seed, kind, per_unit))


def _mutants_of_kind(unit: CodeUnit, seed: int, kind: str, per_unit: int) -> list[BugSample]:
    return _training_unit_mutants(unit, seed, f"{kind} mutants", lambda clean, rng: mutants(
        clean, rng=rng, max_per_kind=per_unit, kinds=(kind,)))


def _bug_samples_by_unit(name: str, config: DataConfig, units: Sequence[CodeUnit] | None,
                         make: Callable[[CodeUnit, int], list[BugSample]]) -> list[BugSample]:
    """`make(unit, seed)` over every unit, cached under `name`."""
    units = corpus_units(config) if units is None else units
    return _cached(name, config, _mutants_key(units),
                   lambda: [s for unit in _progress(units, name, config) for s in make(unit, config.seed)],
                   lambda d: BugSample(**d))


def _mutants_key(units: Sequence[CodeUnit]) -> str:
    """The cache key of a data set of mutants: the corpus, and the rewrites that made them."""
    return f"{_corpus_digest(units)}-mutations-v{MUTATIONS_VERSION}"


# --- executed tests --------------------------------------------------------------------------------


def humaneval_problems(config: DataConfig) -> list[Problem]:
    """The HumanEval problems this configuration uses (all 164, or the first `humaneval_limit`)."""
    return load_problems()[: config.humaneval_limit]


def executed_samples(config: DataConfig) -> dict[str, list[ExecutedSample]]:
    """HumanEval canonical solutions and mutants with executed-test labels, by problem id.

    Grouping by problem is what cross-validation needs: a problem's mutants never straddle folds.
    """
    samples = label_humaneval(
        humaneval_problems(config), per_problem=config.humaneval_per_problem, seed=config.seed,
        cache=config.cache_path(), progress=config.progress
    )
    grouped: dict[str, list[ExecutedSample]] = {}
    for sample in samples:
        grouped.setdefault(sample.problem_id, []).append(sample)
    return grouped


# --- embedding -------------------------------------------------------------------------------------


def _triple(unit: CodeUnit, seed: int) -> EmbeddingTriple | None:
    rng = _unit_rng(seed, unit, "embedding")
    try:
        anchor = normalise_source(unit.source)
        variants = semantic_variants(anchor, rng=rng, n=1)
        mutant = one_mutant(anchor, rng=rng)
    except (SyntaxError, RecursionError, ValueError):
        return None
    if not variants or mutant is None:
        return None
    split = split_of(unit.package, seed=seed)
    return EmbeddingTriple(anchor, variants[0], mutant.source, mutant.kind, split, _unit_group(unit))


def embedding_triples(config: DataConfig, units: Sequence[CodeUnit] | None = None) -> list[EmbeddingTriple]:
    """(anchor, positive variant, hard-negative mutant) for every unit that admits both."""
    units = corpus_units(config) if units is None else units

    def build() -> list[EmbeddingTriple]:
        made = (_triple(unit, config.seed) for unit in _progress(units, "embedding", config))
        return [t for t in made if t is not None]

    return _cached("embedding", config, _mutants_key(units), build, lambda d: EmbeddingTriple(**d))
