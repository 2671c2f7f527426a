"""The Predictor: find a checkpoint, load it (or fall back to untrained weights), and answer.

Owns the checkpoint search order, the swap of a loaded model on reload, and turning the engine's
arrays into `model.prediction` results (which imports, which bugs, where: at the bug sites
`model.sites` scores, when the checkpoint has a site scorer). Graph building is
`model.graph`'s, the network's numbers `model.engine`'s, the file format `model.checkpoint`'s.
Numpy only: the daemon that holds a Predictor never imports torch.

Search order: an explicit path, then `$YANTRA_CHECKPOINT`, then
`~/.yantra/checkpoints/graphsage/best_model.safetensors`, then the checkpoint shipped in this
package; when none loads, deterministic untrained weights, reported as `trained: false` with why.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Container, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from model.batch import collate
from model.checkpoint import load_checkpoint
from model.confidence import ConfidenceScorer, confidence_scorer_from, served_scorer, shift_to_pass_rate
from model.config import ModelConfig
from model.engine import EngineOutput, GraphSAGEEngine, init_weights
from model.errors import CheckpointError, FeatureVectorError, SourceLimitError, SourceSyntaxError
from model.graph import DEFAULT_LIMITS, CodeGraph, SourceLimits, build_graph, vector_graph
from model.imports import AttributeReads, ImportIndex, ImportRanker, submodules_from_json
from model.layout import CATEGORIES, FEATURE_DIM, FEATURE_LAYOUT_VERSION
from model.prediction import (
    BugReport,
    CategorySpan,
    FeatureExtraction,
    ImportSuggestion,
    ModelStamp,
    NodeFeatures,
    Prediction,
    statement_binds,
)
from model.project import ImportContext, ProjectView
from model.scopes import attribute_reads
from model.sites import SITE_BUCKETS, SiteModel, kind_at, site_model_from
from model.vocabulary import BUG_KINDS, SYNTAX_ERROR, default_import_vocabulary

__all__ = ["CHECKPOINT_ENV", "MAX_FEATURE_MAGNITUDE", "SHIPPED_CHECKPOINT", "USER_CHECKPOINT", "Predictor",
           "checkpoint_candidates", "import_threshold"]

CHECKPOINT_ENV = "YANTRA_CHECKPOINT"
USER_CHECKPOINT = Path("~/.yantra/checkpoints/graphsage/best_model.safetensors")
SHIPPED_CHECKPOINT = Path(__file__).parent / "checkpoints" / "graphsage.safetensors"
_MODEL_TABLES = frozenset({"import_index", "import_names", "import_aliases", "import_submodules", "config"})
"""Checkpoint metadata that is model data (name tables) or bulky, left out of `info()["training"]`."""
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class _Loaded:
    """One loaded model: immutable, so a reload swaps it whole and readers never see half of one."""

    engine: GraphSAGEEngine
    config: ModelConfig
    imports: list[str]
    bug_kinds: list[str]
    trained: bool
    checkpoint: str | None
    reason: str | None
    training: dict[str, Any]
    import_threshold: float
    bug_threshold: float
    import_aliases: dict[str, str] = field(default_factory=dict)
    import_names: dict[str, list[str]] = field(default_factory=dict)
    import_index: ImportIndex = field(default_factory=ImportIndex)
    import_submodules: dict[str, dict[str, bool]] = field(default_factory=dict)
    site_model: SiteModel | None = None
    """Scores each bug site of the code (model/sites.py); None: the bugs head alone, at a function."""
    confidence_scorer: ConfidenceScorer | None = None
    """Code's confidence from its sites (model/confidence.py); None: the network's confidence head."""
    trained_pass_rate: float | None = None
    """The share of the checkpoint's executed samples that passed: what its confidence is calibrated to."""
    host_pass_rate: float | None = None
    """The host's own pass rate (`confidence_pass_rate`), to which each confidence is shifted."""
    digest: str | None = None
    """The SHA-256 of the checkpoint file as it was read; None for the untrained fallback."""

    @property
    def pass_rate(self) -> float | None:
        """The pass rate the served confidence is calibrated to; None when no executed labels say."""
        return self.host_pass_rate if self.trained_pass_rate is not None and self.host_pass_rate is not None \
            else self.trained_pass_rate

    @cached_property
    def stamp(self) -> ModelStamp:
        """What each of this model's predictions says made it (built once, not per prediction)."""
        return ModelStamp(self.config.version, self.trained)

    @cached_property
    def import_ranker(self) -> ImportRanker:
        return ImportRanker(self.imports, self.import_index, self.import_aliases, self.import_submodules)
    parameters: int = 0


def checkpoint_candidates(explicit: str | os.PathLike[str] | None = None) -> list[tuple[str, Path]]:
    """Where a checkpoint is looked for, in order, as (origin, path)."""
    found: list[tuple[str, Path]] = []
    if explicit is not None:
        found.append(("explicit path", Path(explicit)))
    env = os.environ.get(CHECKPOINT_ENV)
    if env:
        found.append((f"${CHECKPOINT_ENV}", Path(env)))
    found.append(("user checkpoint", USER_CHECKPOINT.expanduser()))
    found.append(("shipped checkpoint", SHIPPED_CHECKPOINT))
    return found


class Predictor:
    """Thread-safe access to the model: construction is cheap, `load()` does the work once."""

    def __init__(self, checkpoint: str | os.PathLike[str] | None = None, *,
                 limits: SourceLimits = DEFAULT_LIMITS, confidence_pass_rate: float | None = None) -> None:
        """`confidence_pass_rate`: how often the host's code passes its tests, if it knows; confidence is
        then restated for that rate instead of the checkpoint's (`model.confidence.shift_to_pass_rate`)."""
        if confidence_pass_rate is not None and not 0.0 < confidence_pass_rate < 1.0:
            raise ValueError(f"confidence_pass_rate must lie strictly between 0 and 1, not {confidence_pass_rate}")
        self._explicit = checkpoint
        self._limits = limits
        self._host_pass_rate = confidence_pass_rate
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    # ------------------------------------------------------------------ loading

    @property
    def ready(self) -> bool:
        return self._loaded is not None

    def load(self) -> None:
        """Load by the search order, falling back to untrained weights; idempotent and thread-safe."""
        with self._lock:
            if self._loaded is None:
                self._loaded = replace(_search_and_load(self._explicit), host_pass_rate=self._host_pass_rate)

    def reload(self, path: str | os.PathLike[str] | None = None, *,
               cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
        """Load `path` (or search again) and swap it in; on failure, or when `cancelled()` says so once
        the file is read (a request answered "cancelled" must not take effect), the old model keeps
        serving."""
        loaded = _load_file(Path(path), "explicit path") if path is not None else _search_and_load(
            self._explicit)
        loaded = replace(loaded, host_pass_rate=self._host_pass_rate)
        with self._lock:
            if not cancelled():
                self._loaded = loaded
        return self.info()

    def _model(self) -> _Loaded:
        loaded = self._loaded
        if loaded is None:
            self.load()
            loaded = self._loaded
        assert loaded is not None
        return loaded

    def checkpoint_identity(self) -> tuple[str | None, str | None]:
        """The path of the checkpoint serving now and the SHA-256 of the bytes it was loaded from;
        (None, None) for the untrained fallback. Another process loading "the same model" must load
        these bytes: the file at that path may have been replaced since (bridge/workers.py checks)."""
        loaded = self._model()
        return loaded.checkpoint, loaded.digest

    def info(self) -> dict[str, Any]:
        """What `model_info` reports once a model is loaded (loading it first, as every method here does):
        status, provenance, sizes and the checkpoint's training metadata. What is reported while the
        model loads, or after it failed to, is the daemon's (bridge/methods.py), which alone sees that."""
        loaded = self._model()
        config = loaded.config
        heads = {
            "embedding": {"size": config.embedding_dim},
            "confidence": {"size": 1},
            "imports": {"size": config.num_imports},
            "bugs": {"size": config.num_bug_kinds},
        }
        if loaded.site_model is not None:
            heads["bug_sites"] = {"size": SITE_BUCKETS}
        if loaded.confidence_scorer is not None:
            heads["confidence_sites"] = {"size": SITE_BUCKETS}
        return {
            "status": "loaded",
            "version": config.version,
            "trained": loaded.trained,
            "checkpoint": loaded.checkpoint,
            "model_size_mb": round(loaded.parameters * 4 / 2**20, 3),
            "parameters": loaded.parameters,
            "feature_dim": config.feature_dim,
            "heads": heads,
            "device": "cpu",
            "training": {k: v for k, v in loaded.training.items() if k not in _MODEL_TABLES},
            "reason": loaded.reason,
            "confidence_pass_rate": loaded.pass_rate,
        }

    # ------------------------------------------------------------------ predicting

    def predict_sources(self, sources: Sequence[str], *, top_k: int = 5, include_embedding: bool = False,
                        projects: Sequence[ImportContext | ProjectView | None] | None = None) -> list[Prediction]:
        """Predict for each source in one forward pass; code that does not parse gets confidence 0.

        `projects`, parallel to `sources`, is what each one's project offers its imports (None: no
        project known; a ProjectView is narrowed to the code's free names once parsed). Raises
        SourceLimitError when a source is too large or nests too deeply.
        """
        graphs: list[CodeGraph | SourceSyntaxError] = []
        model = self._model()  # one model for the whole call, though a reload may swap it meanwhile
        sites = model.site_model is not None or model.confidence_scorer is not None  # only site scorers read them
        for source in sources:
            try:
                graphs.append(build_graph(source, limits=self._limits, sites=sites))
            except SourceSyntaxError as exc:
                graphs.append(exc)
        return _predict_graphs(model, graphs, top_k, include_embedding, projects)

    def predict_graphs(self, graphs: Sequence[CodeGraph | SourceSyntaxError], *, top_k: int = 5,
                       include_embedding: bool = False,
                       projects: Sequence[ImportContext | ProjectView | None] | None = None) -> list[Prediction]:
        """Predict for graphs built elsewhere (e.g. in worker processes); syntax errors pass through."""
        return _predict_graphs(self._model(), graphs, top_k, include_embedding, projects)

    def predict_vectors(self, vectors: Sequence[Sequence[float]] | np.ndarray, *, top_k: int = 5,
                        include_embedding: bool = False) -> list[Prediction]:
        """Predict from host-supplied 978-d vectors, each a one-node graph, in one forward pass."""
        matrix = check_vectors(vectors)
        return self.predict_graphs([vector_graph(row) for row in matrix], top_k=top_k,
                                   include_embedding=include_embedding)

    def embed_sources(self, sources: Sequence[str]) -> np.ndarray:
        """(n, embedding_dim) unit vectors; raises SourceSyntaxError / SourceLimitError."""
        graphs = [build_graph(source, limits=self._limits, sites=False) for source in sources]
        return _forward(self._model().engine, graphs).embedding

    def embed_vectors(self, vectors: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        matrix = check_vectors(vectors)
        return _forward(self._model().engine, [vector_graph(row) for row in matrix]).embedding

    def extract_features(self, source: str, *, max_nodes: int | None = None) -> FeatureExtraction:
        """The source's features as a whole (its module node) and per node, with the layout;
        SourceLimitError (`units`) for a graph of more than `max_nodes` nodes, before any is copied
        out (978 numbers a node: a caller that must ship them bounds them)."""
        graph = build_graph(source, limits=self._limits, sites=False)
        if max_nodes is not None and len(graph.nodes) > max_nodes:
            raise SourceLimitError(
                f"code has {len(graph.nodes)} graph nodes, more than the {max_nodes} whose features are given "
                f"(978 numbers each)",
                limit="units", maximum=max_nodes, actual=len(graph.nodes),
            )
        nodes = [NodeFeatures(n.name, n.kind, n.line, graph.features[i]) for i, n in enumerate(graph.nodes)]
        return FeatureExtraction(graph.features[0], nodes, [CategorySpan(*c) for c in CATEGORIES])


MAX_FEATURE_MAGNITUDE = 1e15
"""Host vectors beyond this are refused: far above any real feature (counts and shares), far below
where the network's float32 sums overflow into NaN (about 1e30 here)."""


def check_vectors(vectors: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """(n, 978) finite float32, or FeatureVectorError saying what was expected."""
    try:
        matrix = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FeatureVectorError(f"feature vectors must be lists of {FEATURE_DIM} numbers ({exc})",
                                 expected=FEATURE_DIM) from None
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[1] != FEATURE_DIM or matrix.shape[0] == 0:
        got = matrix.shape[-1] if matrix.ndim >= 1 else 0
        raise FeatureVectorError(f"expected {FEATURE_DIM} numbers per feature vector, got {got}",
                                 expected=FEATURE_DIM)
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=0))
    if bad.size:
        raise FeatureVectorError(f"feature {int(bad[0])} is NaN or infinite; every feature must be finite",
                                 expected=FEATURE_DIM, index=int(bad[0]))
    magnitudes = np.abs(matrix).max(axis=0)
    if magnitudes.max() > MAX_FEATURE_MAGNITUDE:
        index = int(np.argmax(magnitudes > MAX_FEATURE_MAGNITUDE))
        raise FeatureVectorError(f"feature {index} is larger than {MAX_FEATURE_MAGNITUDE:g} in magnitude",
                                 expected=FEATURE_DIM, index=index)
    return matrix.astype(np.float32)


# ---------------------------------------------------------------------- loading helpers


def _search_and_load(explicit: str | os.PathLike[str] | None) -> _Loaded:
    """The first candidate that loads. A checkpoint asked for by name (the explicit path or
    `$YANTRA_CHECKPOINT`) that is missing, or any file that fails to load, is named in the result's
    `reason`, so a typo in a path does not pass unseen behind the fallback."""
    reasons, skipped = [], []
    for origin, path in checkpoint_candidates(explicit):
        asked_for = origin in ("explicit path", f"${CHECKPOINT_ENV}")
        if not path.exists() and not asked_for:
            reasons.append(f"{origin} {path}: not found")
            continue
        try:
            loaded = _load_file(path, origin)
        except CheckpointError as exc:
            reasons.append(f"{origin} {path}: {exc}")
            skipped.append(reasons[-1])
            continue
        if skipped:
            return replace(loaded, reason="; ".join(skipped) + f"; loaded the {origin} instead")
        return loaded
    return _untrained("no checkpoint loaded (" + "; ".join(reasons) + "); using untrained weights")


def _load_file(path: Path, origin: str) -> _Loaded:
    """The checkpoint at `path`, or CheckpointError: a failure no check of `_load_checked` foresaw
    (a hostile file's shape nobody thought of) is a refused checkpoint too, so a bad file in the
    search order never stops the daemon from starting, and `reload` answers it as a bad path."""
    try:
        return _load_checked(path, origin)
    except (CheckpointError, MemoryError):  # out of memory is this machine's state, not the file's fault
        raise
    except Exception as exc:
        raise CheckpointError(f"cannot load checkpoint {path}: {type(exc).__name__}: {exc}", path=str(path)) from exc


def _load_checked(path: Path, origin: str) -> _Loaded:
    checkpoint = load_checkpoint(path, expected_layout_version=FEATURE_LAYOUT_VERSION)
    vocab = checkpoint.vocabularies
    training = dict(checkpoint.training)
    thresholds = training.get("thresholds", {}) if isinstance(training.get("thresholds"), dict) else {}
    if checkpoint.config.feature_dim != FEATURE_DIM:
        raise CheckpointError(f"cannot load checkpoint {path}: its network takes {checkpoint.config.feature_dim} "
                              f"features per node, the extractor makes {FEATURE_DIM}", path=str(path))
    try:
        engine = GraphSAGEEngine(checkpoint.config, checkpoint.weights)
    except ValueError as exc:
        raise CheckpointError(f"cannot load checkpoint {path}: {exc}", path=str(path)) from None
    site_model = site_model_from(checkpoint.site_weights, training.get("bug_sites"))
    if site_model is not None and not vocab["bug_kinds"]:
        raise CheckpointError(f"cannot load checkpoint {path}: it has a bug-site scorer but no bug kinds "
                              "for it to name", path=str(path))
    confidence_scorer = served_scorer(
        confidence_scorer_from(checkpoint.confidence_weights, training.get("confidence_sites")), site_model)
    used = [*checkpoint.weights.values()]  # the parameters a scorer the load refused does not add
    used += [*checkpoint.site_weights.values()] if site_model is not None else []
    used += [w for name, w in checkpoint.confidence_weights.items() if name != "ids"] if confidence_scorer else []
    return _Loaded(
        engine=engine,
        config=checkpoint.config,
        imports=list(vocab["imports"]),
        bug_kinds=list(vocab["bug_kinds"]),
        trained=_trained(training),
        checkpoint=str(path),
        reason=None if _trained(training) else f"{origin} holds untrained weights",
        training=training,
        import_threshold=_threshold(thresholds, "imports", path),
        bug_threshold=_threshold(thresholds, "bugs", path),
        import_aliases=_str_map(training.get("import_aliases")),
        import_names={k: list(v) for k, v in _str_map(training.get("import_names"), list).items()
                      if all(isinstance(name, str) for name in v)},
        import_index=ImportIndex.from_json(training.get("import_index")),
        import_submodules=submodules_from_json(training.get("import_submodules")),
        site_model=site_model,
        confidence_scorer=confidence_scorer,
        trained_pass_rate=_pass_rate(training.get("confidence_labels")),
        parameters=sum(int(w.size) for w in used),
        digest=checkpoint.digest,
    )


def _trained(training: dict) -> bool:
    """Whether the checkpoint says its weights are trained: `true`, or nothing said. Anything else
    (`false`, or a value that is no boolean, such as the string "false") counts as untrained, whose
    scores are not reported."""
    return training.get("trained", True) is True


def _pass_rate(labels: object) -> float | None:
    """The share of passing executed samples in a checkpoint's `confidence_labels`, when it says."""
    if not isinstance(labels, dict):
        return None
    passed, samples = labels.get("passed"), labels.get("samples")
    if not (isinstance(passed, int) and isinstance(samples, int) and 0 < passed < samples):
        return None
    rate = passed / samples  # huge counts may round it to 0 or 1, which have no log-odds
    return rate if 0.0 < rate < 1.0 else None


def import_threshold(training: Mapping[str, Any], path: Path) -> float:
    """The score from which the daemon shows an import suggestion of the checkpoint at `path`, whose
    metadata is `training`: what its loader reads, for the evaluation to measure what is shown."""
    thresholds = training.get("thresholds")
    return _threshold(thresholds if isinstance(thresholds, dict) else {}, "imports", path)


def _threshold(thresholds: dict, head: str, path: Path) -> float:
    """A head's report threshold from the checkpoint's metadata; a malformed one fails the load."""
    value = thresholds.get(head, DEFAULT_THRESHOLD)
    try:
        number = float(value) if type(value) in (int, float) else math.nan
    except OverflowError:  # an integer too large for a float
        number = math.nan
    if not math.isfinite(number):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise CheckpointError(f"cannot load checkpoint {path}: training.thresholds.{head} is {shown}, not a number",
                              path=str(path))
    return number


UNTRAINED_THRESHOLD = 1.01
"""An untrained head's scores are noise: its thresholds sit above 1 so it suggests nothing."""


def _str_map(value: object, kind: type = str) -> dict:
    """A {module: value} table from training metadata, ignoring anything malformed."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, kind)}


def _untrained(reason: str) -> _Loaded:
    imports = default_import_vocabulary()
    config = ModelConfig(num_imports=len(imports), num_bug_kinds=len(BUG_KINDS))
    weights = init_weights(config, seed=0)
    return _Loaded(
        engine=GraphSAGEEngine(config, weights),
        config=config,
        imports=imports,
        bug_kinds=list(BUG_KINDS),
        trained=False,
        checkpoint=None,
        reason=reason,
        training={},
        import_threshold=UNTRAINED_THRESHOLD,
        bug_threshold=UNTRAINED_THRESHOLD,
        parameters=sum(int(w.size) for w in weights.values()),
    )


# ---------------------------------------------------------------------- result helpers


def _forward(engine: GraphSAGEEngine, graphs: Sequence[CodeGraph], *, embedding: bool = True) -> EngineOutput:
    return engine.forward(collate([(g.features, g.edge_index) for g in graphs]), embedding=embedding)


def _predict_graphs(model: _Loaded, graphs: Sequence[CodeGraph | SourceSyntaxError], top_k: int,
                    include_embedding: bool, projects: Sequence[ImportContext | ProjectView | None] | None
                    ) -> list[Prediction]:
    """`Predictor.predict_graphs` with one loaded model, which stamps every prediction."""
    good = [g for g in graphs if isinstance(g, CodeGraph)]
    outputs = _forward(model.engine, good, embedding=include_embedding) if good else None
    stamp = model.stamp
    results: list[Prediction] = []
    index = 0
    node_offset = 0
    for position, item in enumerate(graphs):
        if isinstance(item, SourceSyntaxError):
            results.append(_syntax_prediction(item, stamp))
            continue
        assert outputs is not None
        project = projects[position] if projects is not None else None
        if isinstance(project, ProjectView):
            project = project.context_for(item.free_names)
        results.append(_prediction(model, outputs, index, node_offset, item, top_k, include_embedding, project,
                                   stamp))
        node_offset += item.num_nodes
        index += 1
    return results


def _syntax_prediction(error: SourceSyntaxError, stamp: ModelStamp) -> Prediction:
    """Code that does not parse: confidence 0, one syntax_error bug where the parser stopped, no embedding."""
    bug = BugReport(SYNTAX_ERROR, 1.0, error.line, error.column)
    return Prediction(confidence=0.0, imports=[], bugs=[bug], embedding=None, parsed=False, model=stamp)


def _prediction(model: _Loaded, out: EngineOutput, index: int, node_offset: int, graph: CodeGraph,
                top_k: int, include_embedding: bool, project: ImportContext | None, stamp: ModelStamp
                ) -> Prediction:
    site_logits = None  # the bug-site scorer's, read by the bug reports and the confidence alike
    if model.site_model is not None and graph.sites is not None and len(graph.sites):
        site_logits = model.site_model.logits(graph.sites)
    return Prediction(
        confidence=_confidence(model, out, index, graph, site_logits),
        imports=_imports(model, out.import_probs[index], graph, top_k, project),
        bugs=_bugs(model, out.bug_probs[index], out.bug_node_probs, node_offset, graph, top_k, site_logits),
        embedding=out.embedding[index].copy() if out.embedding is not None else None,
        model=stamp,
    )


def _confidence(model: _Loaded, out: EngineOutput, index: int, graph: CodeGraph,
                site_logits: np.ndarray | None) -> float:
    """From the code's sites when the checkpoint has a confidence scorer and the code a site, else
    the network's head (model/confidence.py says why)."""
    probability = None
    if model.confidence_scorer is not None and graph.sites is not None:
        probability = model.confidence_scorer.probability(graph.sites, site_logits)
    if probability is None:
        probability = float(out.confidence[index])
    if model.trained_pass_rate is not None and model.host_pass_rate is not None:
        return shift_to_pass_rate(probability, model.trained_pass_rate, model.host_pass_rate)
    return probability


def _imports(model: _Loaded, probs: np.ndarray, graph: CodeGraph, top_k: int,
             project: ImportContext | None = None) -> list[ImportSuggestion]:
    """Modules above the threshold that the code does not import already, best first. A module the
    code (or its file) imports already comes back only with a line that binds one of its free names:
    `import typing` beside `from typing import List` would leave `Text` unbound all the same."""
    if top_k <= 0:
        return []
    ranked = model.import_ranker.rank(probs, graph.free_names, graph.imported, top_k, project,
                                      attribute_reads=graph.attribute_reads, star_import=graph.star_import)
    imported = graph.imported | project.file_imports if project is not None else graph.imported
    suggestions = _submodules_of_imported(model, graph, imported)
    for module, score in ranked:
        if score < model.import_threshold:
            continue
        statement = import_statement(module, graph.free_names, model, project, graph.attribute_reads)
        if module in imported and not any(name in graph.free_names for line in statement.splitlines()
                                          for name in statement_binds(line)):
            continue
        suggestions.append(ImportSuggestion(module, score, statement))
    return suggestions[:top_k]


def _submodules_of_imported(model: _Loaded, graph: CodeGraph, imported: Set[str]) -> list[ImportSuggestion]:
    """`import logging.handlers` for code that imports `logging` itself and reads
    `logging.handlers.RotatingFileHandler`, an AttributeError unless something else imported the
    submodule: a rule read off the checkpoint's submodule table, not a guess, so its score is 1."""
    table = model.import_submodules
    bound = {m.partition(".")[0] for m in imported} - graph.free_names  # `import pkg[.x]` binds pkg
    packages = frozenset(root for root, path in graph.attribute_paths  # a submodule's name has no dot
                         if root in bound and path in table.get(root, ()))
    if not packages:
        return []
    reads = attribute_reads(graph.attribute_paths, packages)
    modules = {m for package in packages for m in model.import_ranker.unloaded(package, reads.get(package, ()))}
    return [ImportSuggestion(m, 1.0, f"import {m}") for m in sorted(modules) if m not in imported]


def import_statement(module: str, free_names: frozenset[str], model: _Loaded | None = None,
                     project: ImportContext | None = None,
                     attribute_reads: AttributeReads | None = None) -> str:
    """The line, or two, that bind what the code uses from `module`: `from m import x`, `import m`,
    `import m as a`, and `import m` above `from m import x` for code that reads both (`math.pi` and
    `sqrt`), so that no name the suggestion stands for is left unbound.

    A free name that the project binds in the module, or that training code imported *from* it
    (`model.import_names`, or the name table where the module is the name's likeliest), wins
    (`datetime.now()` needs `from datetime import datetime`), unless the code reads off it what
    training code imported from the module itself (`attribute_reads`: `copy.deepcopy(x)` and
    `datetime.datetime.now()` need `import copy`, `import datetime`); then the module's own name,
    then its usual alias.
    """
    needed = set(project.needed(free_names)) if project is not None else free_names
    names = [n for n in project.binds(module, needed) if n != module] if project is not None else []
    alias = model.import_aliases.get(module) if model is not None else None
    if not names and model is not None:
        names = _imported_from(module, needed, model, alias, attribute_reads)
    top = module.split(".")[0]
    as_module = [f"import {module}"] if top in needed and top not in names else []
    if alias and alias in needed and alias not in names:  # `numpy.ones` and `np.zeros` both
        as_module.append(f"import {module} as {alias}")
    if not names:
        return "\n".join(as_module) or f"import {module}"
    return "\n".join([*as_module, f"from {module} import {', '.join(sorted(names))}"])


def _imported_from(module: str, needed: Container[str], model: _Loaded, alias: str | None,
                   attribute_reads: AttributeReads | None) -> list[str]:
    """The needed names training code imported from `module`: those it imported most often from there
    (`import_names`), and those whose likeliest module in the name table is this one (`mean` from
    statistics; a tie counts), but not the module's own name or alias, nor, from the table, a name
    the code reads attributes off (`parse.quote(x)` is no call for `from ast import parse`)."""
    exported = model.import_names.get(module, [])
    names = [n for n in exported if n in needed]
    table = model.import_index.names
    top = module.split(".")[0]
    read_off = attribute_reads() if attribute_reads is not None else {}
    for name in needed:
        shares = table.get(name)
        if shares and name not in names and name not in (top, alias) and name not in read_off and \
                shares.get(module, 0.0) >= max(shares.values()):
            names.append(name)
    if module in names and attribute_reads is not None and \
            not attribute_reads().get(module, frozenset()).isdisjoint(exported):
        names.remove(module)
    return names


def _bugs(model: _Loaded, probs: np.ndarray, node_probs: np.ndarray, node_offset: int, graph: CodeGraph,
          top_k: int, site_logits: np.ndarray | None) -> list[BugReport]:
    """Likely bugs above the threshold, most likely first: at the code's bug sites when the model scores
    them, else each kind the bugs head reports, at the node its location head picks."""
    if top_k <= 0:
        return []
    if model.site_model is not None and graph.sites is not None:  # no site: nowhere for such a bug to hide
        return _site_bugs(model, model.site_model, probs, graph, top_k, site_logits)
    line = column = None
    if graph.num_nodes > 1:
        local = node_probs[node_offset: node_offset + graph.num_nodes]
        node = graph.nodes[int(np.argmax(local))]
        if node.kind != "module":
            line, column = node.line, node.column
    reports = []
    for i in np.argsort(-probs, kind="stable")[:top_k]:
        score = float(probs[i])
        if score < model.bug_threshold:
            break
        reports.append(BugReport(model.bug_kinds[i], score, line, column))
    return reports


def _site_bugs(model: _Loaded, scorer: SiteModel, probs: np.ndarray, graph: CodeGraph, top_k: int,
               site_logits: np.ndarray | None) -> list[BugReport]:
    """The sites most likely to hold a bug (`site_logits`: the scorer's, None when there is no site), each
    with the kind the bugs head favours among those its type can hold; the head's strongest kind also
    enters each site's probability."""
    sites = graph.sites
    assert sites is not None
    if site_logits is None:
        return []
    site_probs = scorer.combine(site_logits, float(probs.max()), len(sites))
    kinds: dict[str, float] = {}  # the head's probability per kind, once a site is reported
    reports: list[BugReport] = []
    reported: set[tuple[int, int]] = set()
    for i in np.argsort(-site_probs, kind="stable"):
        score = float(site_probs[i])
        if score < model.bug_threshold or len(reports) >= top_k:
            break
        place = (sites.lines[i], sites.columns[i])
        if place in reported:  # a condition and its comparison start at one place: one report there
            continue
        reported.add(place)
        kinds = kinds or dict(zip(model.bug_kinds, probs.tolist(), strict=True))
        reports.append(BugReport(kind_at(sites.types[i], kinds), score, *place))
    return reports
