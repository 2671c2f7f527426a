"""Ranking the modules a piece of code needs: the imports head combined with a name index.

An IDE resolves `np` or `OrderedDict` by a table of where each name was bound in code it has seen;
the network sees what the table cannot (what the code does, the names around it), but through
hashed features. A checkpoint carries both: the table (`ImportIndex.names`, built from training
code) and weights, fitted on validation data, that combine them per candidate module into one
probability. When the host says where the code lives, the project's own index (`model.project`) is
a second source of evidence with weights of its own. Candidates are the head's vocabulary plus any
module either table offers for the code's free names, so a module outside the vocabulary can still
be suggested. The Predictor and the evaluation both rank through `ImportRanker`, so the figures
measure what the daemon serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field

import numpy as np

from model.config import MAX_WEIGHT_MAGNITUDE
from model.project import ImportContext
from model.sites import head_logit, logistic

__all__ = ["FEATURE_NAMES", "AttributeReads", "ImportIndex", "ImportRanker", "Submodules", "is_private",
           "submodules_from_json"]

AttributeReads = Callable[[], Mapping[str, frozenset[str]]]
"""What the code reads off each free name (`CodeGraph.attribute_reads`), computed when first asked:
each attribute, and each dotted chain of them (`xml.etree.ElementTree.parse(f)`: "etree",
"etree.ElementTree", "etree.ElementTree.parse")."""
Submodules = Mapping[str, Mapping[str, bool]]
"""package -> {submodule: whether `import package` loads it} (`"logging": {"handlers": False}`), for
the packages installed where the checkpoint was trained (its `import_submodules`)."""

FEATURE_NAMES = ("head_logit", "in_vocabulary", "name_share", "has_name_evidence", "project_share",
                 "has_project_evidence", "named")
"""What each of the combiner's inputs is; the weight after them is the bias. `named`: the code reads
the module by its own name or its usual alias (`csv.reader`, `pd.read_csv`), which a name table
spread over many modules, or counting few packages, can leave weak."""
_PROJECT_FEATURES = 2
"""The project's two inputs came after the first four: weights saved without them get zeros there."""
_NAMED_FEATURES = 1
"""`named` came last: weights saved without it get a zero there (the combiner as it was fitted)."""


@dataclass(frozen=True)
class ImportIndex:
    """`names`: bound name -> {module: share of that name's bindings}; `weights`: one per
    FEATURE_NAMES entry, then the bias. The default weights reproduce the head alone (a module
    outside the vocabulary then scores sigmoid(-30), never)."""

    names: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    weights: tuple[float, ...] = (1.0, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0, -30.0)

    def __post_init__(self) -> None:
        missing = len(FEATURE_NAMES) + 1 - len(self.weights)  # inputs added since the weights were saved
        if missing in (_NAMED_FEATURES, _NAMED_FEATURES + _PROJECT_FEATURES):
            padded = (*self.weights[:-1], *[0.0] * missing, self.weights[-1])
            object.__setattr__(self, "weights", padded)
        if len(self.weights) != len(FEATURE_NAMES) + 1:
            raise ValueError(f"expected {len(FEATURE_NAMES) + 1} combiner weights, got {len(self.weights)}")

    def to_json(self) -> dict:
        return {"names": {n: dict(m) for n, m in self.names.items()}, "weights": list(self.weights)}

    @classmethod
    def from_json(cls, value: object) -> ImportIndex:
        """Read the form `to_json` writes; anything malformed gives the head-only default."""
        if not isinstance(value, dict):
            return cls()
        names = value.get("names", {})
        weights = value.get("weights", [])
        lengths = (len(FEATURE_NAMES) + 1, len(FEATURE_NAMES) + 1 - _NAMED_FEATURES,
                   len(FEATURE_NAMES) + 1 - _NAMED_FEATURES - _PROJECT_FEATURES)
        if not (isinstance(names, dict) and isinstance(weights, list) and len(weights) in lengths):
            return cls()
        numbers = [_number(w) for w in weights]
        if any(w is None for w in numbers):
            return cls()
        clean = {n: {m: share for m, s in mods.items() if isinstance(m, str) and (share := _number(s)) is not None}
                 for n, mods in names.items() if isinstance(n, str) and isinstance(mods, dict)}
        return cls(clean, tuple(w for w in numbers if w is not None))

    @classmethod
    def from_bindings(cls, bindings: Iterable[tuple[str, str]], weights: Sequence[float] | None = None
                      ) -> ImportIndex:
        """Build the table from (bound name, module) pairs seen in training code."""
        counts: dict[str, dict[str, int]] = {}
        for name, module in bindings:
            table = counts.setdefault(name, {})
            table[module] = table.get(module, 0) + 1
        shares = {n: {m: c / sum(t.values()) for m, c in t.items()} for n, t in counts.items()}
        return cls(shares, tuple(weights) if weights is not None else cls().weights)


def _number(value: object) -> float | None:
    """A checkpoint's number as a float, or None when it is not one, or not finite, or beyond
    MAX_WEIGHT_MAGNITUDE (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if abs(number) <= MAX_WEIGHT_MAGNITUDE else None  # False for NaN too


class ImportRanker:
    """Ranks candidate modules for one vocabulary and index; the per-vocabulary work is done once,
    since the daemon ranks with the same model thousands of times."""

    def __init__(self, vocabulary: Sequence[str], index: ImportIndex, aliases: Mapping[str, str] | None = None,
                 submodules: Submodules | None = None) -> None:
        self.vocabulary = list(vocabulary)
        self.index = index
        self._position = {m: i for i, m in enumerate(self.vocabulary)}
        self._aliased: dict[str, list[str]] = {}
        """alias -> the modules training code most often imports under it (`np` -> numpy), from `aliases`
        (module -> its usual alias, as the checkpoint's `import_aliases`); not a lower-case one-letter
        alias (`m`, `t`: any variable; an upper-case one, torch's `F`, is a module's) nor one of a
        private module or `builtins` (`import builtins as m`: code reading `m.group(0)` means a
        match)."""
        for module, alias in sorted((aliases or {}).items()):
            if (len(alias) > 1 or alias.isupper()) and not is_private(module) and module != "builtins":
                self._aliased.setdefault(alias, []).append(module)
        self._module_names = frozenset(n for n, modules in index.names.items() if n in modules)
        """Names training code bound with `import <name>`: top-level modules a project cannot claim."""
        self._top_modules = frozenset(m for modules in index.names.values() for m in modules if "." not in m) \
            | frozenset(m for m in self.vocabulary if "." not in m)
        """Top-level modules the table or the head knows: a name read as `name.attr` is one of them."""
        self._submodules = submodules or {}

    def _evidence(self, free_names: Iterable[str], attribute_reads: AttributeReads | None = None
                  ) -> dict[str, float]:
        """module -> summed share of the free names the table says it binds. A name the code reads
        attributes of (`attribute_reads`, asked only here) that is itself a known top-level module
        speaks only for that module and its submodules: code reading `numpy.zeros` wants numpy, not
        the `numpy` some package imported `from safetensors`. Nor does `import urllib.parse` speak for
        code that reads `urllib.request`: a submodule binding the name counts only where the code reads
        that submodule off it (`_submodules_read`). And code reading a submodule that importing its
        package does not load (`logging.handlers.X`, `xml.etree.ElementTree.parse`) has the name's
        evidence for the package moved to that submodule (`_explicit`): `import logging` alone would
        be an AttributeError there. A package no table line binds gets the whole share (`xml`)."""
        evidence: dict[str, float] = {}
        for name in free_names:
            table = self.index.names.get(name, {})
            explicit = self._explicit(name, attribute_reads)
            if explicit:  # the package itself, where nothing in the table binds the name (`xml`)
                share = sum(s for module, s in table.items() if not _elsewhere(name, module)) if table else 1.0
                table = dict.fromkeys(explicit, share) if share else table
            if attribute_reads is not None and name in self._top_modules and \
                    any(_elsewhere(name, module) for module in table) and name in attribute_reads():
                table = {module: share for module, share in table.items() if not _elsewhere(name, module)}
            if attribute_reads is not None and any(module.startswith(name + ".") for module in table):
                table = _submodules_read(name, table, attribute_reads().get(name))
            for module, share in table.items():
                evidence[module] = evidence.get(module, 0.0) + share
        return evidence

    def _evidence_by_source(self, free_names: Iterable[str], project: ImportContext | None,
                            attribute_reads: AttributeReads | None = None
                            ) -> tuple[dict[str, float], dict[str, float]]:
        """module -> summed share, from the training name table and from the project, over the free
        names an import must bind (what the code's own file defines needs none); the table speaks only
        for the names the project does not define itself (`ImportContext.unclaimed`)."""
        if project is None:
            return self._evidence(free_names, attribute_reads), {}
        needed = project.needed(free_names)
        return (self._evidence(project.unclaimed(needed, self._module_names), attribute_reads),
                project.evidence(needed))

    def features(self, probs: np.ndarray, free_names: Iterable[str], project: ImportContext | None = None,
                 *, attribute_reads: AttributeReads | None = None) -> tuple[list[str], np.ndarray]:
        """Candidate modules and their (candidates, len(FEATURE_NAMES)) combiner inputs (for fitting):
        what `rank` combines, given the same `attribute_reads`."""
        sources = self._evidence_by_source(free_names, project, attribute_reads)
        vocabulary, position = self.vocabulary, self._position
        extra = sorted({m for evidence in sources for m in evidence if m not in position})
        modules = vocabulary + extra if extra else vocabulary
        features = np.zeros((len(modules), len(FEATURE_NAMES)))  # outside the vocabulary: no head logit
        features[: len(vocabulary), 0] = head_logit(probs)
        features[: len(vocabulary), 1] = 1.0
        extra_position = {m: len(vocabulary) + i for i, m in enumerate(extra)}
        for column, evidence in zip((2, 4), sources, strict=True):
            for module, share in evidence.items():
                row = position.get(module)
                row = row if row is not None else extra_position[module]
                features[row, column] = share
                features[row, column + 1] = 1.0
        for module in self._named(free_names, attribute_reads):
            row = position.get(module, extra_position.get(module))
            if row is not None:
                features[row, 6] = 1.0
        return modules, features

    def _named(self, free_names: Iterable[str], attribute_reads: AttributeReads | None = None) -> set[str]:
        """The modules the code reads by their own name (`csv`), usual alias (`np`) or dotted name
        (`logging.handlers`, where the package's import does not load it: `_explicit`)."""
        named: set[str] = set()
        for name in free_names:
            named.update(self._explicit(name, attribute_reads) or (name,))
            named.update(self._aliased.get(name, ()))
        return named

    def _explicit(self, name: str, attribute_reads: AttributeReads | None) -> set[str]:
        """The submodules of package `name` that the code reads and importing the package does not
        load: the deepest such module of each chain read (`xml.etree.ElementTree.parse` ->
        xml.etree.ElementTree, whose import loads xml.etree too); empty where the package is unknown
        or loads all it reads. (`_evidence` moves the name's share only where the table binds the
        name to the package itself, or to nothing: `from app import logging` keeps its own.)"""
        if attribute_reads is None or name not in self._submodules:
            return set()
        return self.unloaded(name, attribute_reads().get(name, frozenset()))

    def unloaded(self, package: str, reads: Iterable[str]) -> set[str]:
        """The deepest submodule of `package` in each chain of `reads` (`CodeGraph.attribute_reads`)
        that importing the package does not load, without those another one's import loads."""
        wanted: set[str] = set()
        for chain in reads:
            module, deepest = package, None
            for part in chain.split("."):
                loads = self._submodules.get(module)
                if loads is None or part not in loads:
                    break
                module = f"{module}.{part}"
                if not loads[part]:
                    deepest = module
            if deepest is not None:
                wanted.add(deepest)
        return {m for m in wanted if not any(other.startswith(m + ".") for other in wanted)}

    def rank(self, probs: np.ndarray, free_names: Iterable[str], imported: Iterable[str],
             k: int, project: ImportContext | None = None, *, attribute_reads: AttributeReads | None = None,
             star_import: bool = False) -> list[tuple[str, float]]:
        """The k most likely missing modules with their probabilities, best first. The combiner of
        `features`, computed without building its matrix: this runs once per prediction. Beyond what
        the combiner was fitted on, three rules for what an editor would insert: a module the code
        (or its file) imports already is skipped unless one of the free names speaks for it (`from
        typing import List` leaves `Dict` unbound; `import numpy as np` in one function leaves the
        next function's `np` unbound); so is a private module (`pip._vendor`, `_pytest.main`: a
        package's internals, which training code imports from inside its own package) unless the
        code's own project has it or the code reads it by name (`_thread.x`); and code with a star
        import, or sent from a file with one, gets nothing, since the star may bind any of its free
        names. `attribute_reads`: what the code reads off each free name
        (`CodeGraph.attribute_reads`; see `_evidence`)."""
        if star_import or (project is not None and project.file_star):
            return []
        free = free_names if isinstance(free_names, frozenset | set) else frozenset(free_names)
        w_logit, w_vocabulary, w_share, w_evidence, w_project, w_in_project, w_named, bias = self.index.weights
        z = w_logit * head_logit(probs) + (w_vocabulary + bias)
        extra: dict[str, float] = {}
        names, own = self._evidence_by_source(free, project, attribute_reads)
        wanted = names.keys() | own.keys()  # modules some free name needs, imported elsewhere or not
        for table, w_table, w_present in ((names, w_share, w_evidence), (own, w_project, w_in_project)):
            for module, share in table.items():
                row = self._position.get(module)
                if row is None:
                    extra[module] = extra.get(module, bias) + w_table * share + w_present
                else:
                    z[row] += w_table * share + w_present
        if w_named:
            for module in self._named(free, attribute_reads):
                row = self._position.get(module)
                if row is not None:
                    z[row] += w_named
                elif module in extra:
                    extra[module] += w_named
        modules = self.vocabulary
        if extra:
            outside = sorted(extra)  # modules beyond the head's vocabulary
            modules = modules + outside
            z = np.concatenate([z, [extra[m] for m in outside]])
        scores = logistic(z)
        skip = _already_imported(imported, project, wanted)
        ranked = []
        for i in np.argsort(-scores, kind="stable"):
            module = modules[i]
            if module in skip or module.startswith(".") or (is_private(module) and module not in own
                                                            and not _read_by_name(module, free)):
                continue  # (a module starting with "." is relative to a training package: no import)
            ranked.append((module, float(scores[i])))
            if len(ranked) >= k:
                break
        return ranked


def submodules_from_json(value: object) -> dict[str, dict[str, bool]]:
    """The checkpoint's `import_submodules` as `Submodules`, without anything malformed in it."""
    if not isinstance(value, dict):
        return {}
    return {package: {name: loaded for name, loaded in children.items()
                      if isinstance(name, str) and type(loaded) is bool}
            for package, children in value.items() if isinstance(package, str) and isinstance(children, dict)}


def _already_imported(imported: Iterable[str], project: ImportContext | None, wanted: Set[str]) -> set[str]:
    """The modules not to suggest: those the code (or its file) imports already, unless a free name
    the import would bind speaks for one (`wanted`), and the code's own module always."""
    skip = set(imported)
    if project is not None:
        skip.update(project.file_imports)  # what the code's own file imports already
    skip -= wanted
    if project is not None and project.own_module:
        skip.add(project.own_module)
    return skip


def _submodules_read(name: str, table: Mapping[str, float], reads: frozenset[str] | None) -> Mapping[str, float]:
    """`table` without the submodules of `name` (`import xml.dom` binds `xml`) that the code does not
    read off it (`xml.etree.ElementTree.parse(f)` reads `etree`); all of it where the code reads
    nothing off the name."""
    if not reads:
        return table
    start = len(name) + 1
    return {module: share for module, share in table.items()
            if not module.startswith(name + ".") or module[start:].partition(".")[0] in reads}


def _elsewhere(name: str, module: str) -> bool:
    """Whether `module` is neither the module `name` nor one of its submodules."""
    return module != name and not module.startswith(name + ".")


def _read_by_name(module: str, free_names: frozenset[str]) -> bool:
    """Whether the code reads a private module's own private name (`_thread.x`, `_pytest.main.y`),
    not merely the public package above it (`pip.main` is no call for `pip._vendor`)."""
    top = module.partition(".")[0]
    return top.startswith("_") and top in free_names


def is_private(module: str) -> bool:
    """Whether a part of the dotted name starts with one underscore (`pip._vendor`, `_pytest.main`,
    `numpy._core.numeric`): a package's internals, not what other code should import."""
    return any(part.startswith("_") and not part.startswith("__") for part in module.split("."))
