"""`yantra-train`: train the GraphSAGE model on real code with real labels, and write its checkpoints.

Reads top to bottom like nanoGPT's train.py: configuration, data, model and optimiser, the loop
(one combined forward per step over an imports batch, a bugs batch and an embedding batch), then
the finishing steps (best weights restored, the confidence head fitted on executed-test labels,
the bug-site scorers and the confidence scorer fitted, thresholds chosen on validation, the
shipped checkpoint written). Runs on CPU, CUDA or MPS, and
under `torchrun` with DistributedDataParallel (gloo on CPU, nccl on GPU).

Owns the loop, the losses, the schedule, resumable training state and the metrics log. Data comes
from `training.datasets`, graphs from `training.featurize`, the network from `model.network`, the
file format from `model.checkpoint`, confidence fitting from `training.confidence`, the
scorers from `training.sites` and `training.confidence_sites`.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from model.batch import GraphBatch
from model.checkpoint import load_checkpoint, save_checkpoint, write_atomically
from model.confidence import ConfidenceScorer
from model.config import ModelConfig
from model.engine import GraphSAGEEngine
from model.errors import CheckpointError
from model.graph import build_graph
from model.imports import ImportIndex, ImportRanker
from model.layout import FEATURE_DIM, FEATURE_LAYOUT_VERSION
from model.network import GraphOutput, GraphSAGEModel, batch_tensors
from model.predictor import SHIPPED_CHECKPOINT
from model.project import ImportContext
from model.sites import SiteModel, logistic, site_model_from
from model.vocabulary import BUG_KINDS
from training.baselines import statement_bindings
from training.confidence import choose_l2, readouts
from training.confidence_sites import ScorerRecipe, fit_confidence_scorer, mutant_sites
from training.corpus import CodeUnit
from training.datasets import (
    BugSample,
    DataConfig,
    EmbeddingTriple,
    ImportSample,
    bug_samples,
    corpus_units,
    embedding_triples,
    executed_samples,
    humaneval_problems,
    import_samples,
    import_vocabulary,
    mutants_of_kind,
    training_mutants,
)
from training.featurize import GraphTable, featurize
from training.humaneval import ExecutedSample
from training.import_folds import evidence_rows, fit_evidence_weights, folded_samples
from training.imports import statement_tables
from training.logistic import fit_logistic
from training.metrics import auroc, false_alarm_threshold, metadata_threshold
from training.name_table import ImportLines, import_lines, package_submodules, training_part
from training.projects import package_projects, sample_contexts
from training.report import describe_machine, plot_training_curves
from training.sites import SiteFit, fit_site_model

__all__ = ["LOSS_WEIGHTS", "ResumeError", "RunError", "SiteSamples", "TrainConfig", "checked_state", "chosen_samples",
           "limit_samples", "main", "site_samples", "steps_per_epoch", "train"]


# ---------------------------------------------------------------------------- configuration

LOSS_WEIGHTS: dict[str, float] = {"imports": 1.0, "bugs": 1.0, "location": 0.5, "confidence": 0.5, "embedding": 0.5}
"""The multi-task loss's default weight of each task (`--loss-weights` changes the ones it names)."""


@dataclass
class TrainConfig:
    """Everything a run depends on; defaults here, overridable by a JSON config file and flags."""

    # data
    seed: int = 0
    max_files: int | None = None
    max_units_per_package: int | None = 400
    humaneval_per_problem: int = 8
    humaneval_limit: int | None = None
    import_vocab_size: int = 400
    max_samples_per_task: int | None = None
    smoke: bool = False
    cache_dir: str | None = None
    featurize_workers: int = 2
    # model
    hidden_dims: tuple[int, ...] = ModelConfig.hidden_dims
    embedding_dim: int = ModelConfig.embedding_dim
    dropout: float = ModelConfig.dropout
    # optimisation
    epochs: int = 12
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(LOSS_WEIGHTS))
    """Per task; the tasks not given keep their LOSS_WEIGHTS."""
    embedding_temperature: float = 0.1
    embedding_margin: float = 0.0
    """With > 0, the embedding loss also asks each anchor to sit at least this much closer (cosine) to
    its variant than to its own one-bug mutant, the ordering the evaluation measures; 0: InfoNCE alone."""
    plateau_factor: float = 0.5
    plateau_patience: int = 1
    early_stopping_patience: int = 3
    min_delta: float = 1e-3
    max_steps_per_epoch: int | None = None
    validation_limit: int = 3000
    bug_false_alarm_rate: float = 0.05
    site_epochs: int = 4
    """Epochs of the linear bug-site scorer (model/sites.py), trained after the network; 0: none, the bugs
    head alone."""
    site_hidden: int = 32
    """Width of the hidden-layer bug-site scorer blended into the linear one; 0: the linear scorer alone."""
    site_hidden_epochs: int = 1
    site_units_per_package: int | None = 2000
    """Units of each package the bug-site scorers learn from (their clean/buggy pairs and the mutants
    below), beside the network's `max_units_per_package`: a site costs a few hashed ids, so they can
    take a cap five times the network's (on this machine's corpus, about twice the units; probed:
    validation AUROC 0.7443 -> 0.7523). None: every unit. A smoke run keeps its own small corpus.
    `max_samples_per_task` caps the pairs, not the mutants."""
    site_extra_mutants: int = 4
    """Up to this many more mutants of each training unit, beside its paired one, for the bug-site
    scorers alone (`training.datasets.training_mutants`); built once, then cached. 0: none."""
    site_swapped_arguments: int = 4
    """Up to this many swapped-arguments mutants of each training unit more, for the bug-site scorers
    alone (`training.datasets.mutants_of_kind`): drawn uniformly among kinds, too few calls are swapped
    for the scorers to learn argument order beyond the callees they memorise. 0: none. (4 rather than 2
    since the scorers read 2,000 units a package: validation AUROC 0.7523 -> 0.7552.)"""
    confidence_site_epochs: int = 4
    """Epochs of the confidence scorer (model/confidence.py), trained on HumanEval mutants after the
    network; 0: none, the network's confidence head alone."""
    confidence_mutants_per_kind: int = 3
    """Mutants of each kind per HumanEval problem the confidence scorer trains on."""
    # bookkeeping
    out_dir: str = "runs/train"
    overwrite: bool = False
    """Start afresh in an `out_dir` that holds another run's state.pt, replacing its files; without it
    such a folder is refused (`--resume` its state.pt to go on with that run)."""
    checkpoint_every: int = 4
    resume: str | None = None
    device: str = "auto"
    threads: int = 0
    ship: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        """Merge the loss weights given with the defaults, and refuse values no run can use, before
        any data is built (a typo in a weight, or `--batch-size 0`, fails here, not hours later)."""
        unknown = sorted(set(self.loss_weights) - set(LOSS_WEIGHTS))
        if unknown:
            raise ValueError(f"loss_weights: no task {unknown}; the tasks are {sorted(LOSS_WEIGHTS)}")
        self.loss_weights = {**LOSS_WEIGHTS, **self.loss_weights}
        for name, (holds, wanted) in _BOUNDS.items():
            value = getattr(self, name)
            if value is not None and not holds(value):
                raise ValueError(f"{name}: {value!r} must be {wanted}")
        if self.ship and self.smoke:
            raise ValueError("ship: a smoke run's network is too small and its data too few to ship")
        for name in ("out_dir", "resume", "cache_dir"):  # an unset shell variable, `--resume "$STATE"`
            if getattr(self, name) is not None and not str(getattr(self, name)).strip():
                raise ValueError(f"{name}: an empty path")
        if self.resume and Path(self.resume).is_dir():  # a run's folder: its state
            self.resume = str(Path(self.resume) / "state.pt")
        _check_device(self.device)

    def data_config(self) -> DataConfig:
        base = DataConfig.smoke() if self.smoke else DataConfig()
        overrides: dict[str, Any] = {"seed": self.seed, "cache_dir": self.cache_dir, "progress": self.progress}
        for name in ("max_files", "max_units_per_package", "humaneval_limit"):
            if getattr(self, name) is not None or not self.smoke:
                overrides[name] = getattr(self, name)
        if not self.smoke:
            overrides["humaneval_per_problem"] = self.humaneval_per_problem
        return dataclasses.replace(base, **overrides)

    def site_data_config(self) -> DataConfig:
        """The corpus the bug-site scorers learn from: the network's, with `site_units_per_package`
        (a smoke run: the network's own, whatever that field says)."""
        data = self.data_config()
        if self.smoke:
            return data
        return dataclasses.replace(data, max_units_per_package=self.site_units_per_package)

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["hidden_dims"] = list(self.hidden_dims)
        return values


def _at_least(low: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda value: value >= low), f"{low:g} or more"


def _between(low: float, high: float, *, open_low: bool = False) -> tuple[Callable[[Any], bool], str]:
    if open_low:
        return (lambda value: low < value < high), f"between {low:g} and {high:g}, both excluded"
    return (lambda value: low <= value < high), f"at least {low:g} and below {high:g}"


_MAX_SEED = 2**32 - 1 - 64
"""numpy's global seed takes at most 2**32 - 1, and each torchrun process adds its rank."""

_BOUNDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": ((lambda value: 0 <= value <= _MAX_SEED), f"a whole number from 0 to {_MAX_SEED}"),
    **{name: _at_least(1) for name in (
        "max_files", "max_units_per_package", "humaneval_limit", "import_vocab_size", "max_samples_per_task",
        "featurize_workers", "embedding_dim", "epochs", "batch_size", "early_stopping_patience",
        "max_steps_per_epoch", "validation_limit", "site_units_per_package", "confidence_mutants_per_kind")},
    **{name: _at_least(0) for name in (
        "humaneval_per_problem", "weight_decay", "embedding_margin", "plateau_patience", "min_delta", "site_epochs",
        "site_hidden", "site_hidden_epochs", "site_extra_mutants", "site_swapped_arguments", "confidence_site_epochs",
        "checkpoint_every", "threads")},
    "dropout": _between(0, 1),
    "lr": ((lambda value: value > 0), "more than 0"),
    "grad_clip": ((lambda value: value > 0), "more than 0"),
    "embedding_temperature": ((lambda value: value > 0), "more than 0"),
    "plateau_factor": _between(0, 1, open_low=True),
    "bug_false_alarm_rate": _between(0, 1, open_low=True),
    "loss_weights": ((lambda weights: all(weight >= 0 for weight in weights.values())), "0 or more each"),
}
"""What each field must hold (None, where a field takes it, always passes): checked when a config is
made, so a run never starts on a value it cannot use (`--epochs 0` wrote an untrained best, `--batch-size
0` divided by zero once the data was built)."""


def parse_config(argv: Sequence[str] | None = None) -> TrainConfig:
    """Defaults, then `--config file.json`, then `--name value` flags, in that order of precedence."""
    parser = argparse.ArgumentParser(
        prog="yantra-train", description=__doc__.splitlines()[0],
        epilog="Each flag overrides the same field of --config, which overrides the default shown (a full "
               "run's: --smoke takes a few dozen files and a small network instead). --resume takes a run's "
               "state.pt (its folder will do).")
    parser.add_argument("--config", help="a JSON object of TrainConfig fields, named as the flags with _ for -")
    defaults = TrainConfig()
    for item in dataclasses.fields(TrainConfig):
        flag = "--" + item.name.replace("_", "-")
        shown = f"default {_shown(getattr(defaults, item.name))}"
        if item.type in ("bool",):
            parser.add_argument(flag, dest=item.name, action=argparse.BooleanOptionalAction, default=None,
                                help=f"({shown})")
        else:
            parser.add_argument(flag, dest=item.name, default=None, help=f"({item.type}; {shown})")
    args = parser.parse_args(argv)
    values: dict[str, Any] = _config_file(args.config, parser) if args.config else {}
    for item in dataclasses.fields(TrainConfig):
        raw = getattr(args, item.name)
        if raw is not None:
            values[item.name] = raw if isinstance(raw, bool) else _parse_value(item, raw, parser)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        parser.error(f"unknown config keys {unknown}")
    if "hidden_dims" in values:  # "256,128" from a flag or a config file, or a config file's list
        dims = values["hidden_dims"]
        parts = dims.split(",") if isinstance(dims, str) else dims
        try:
            values["hidden_dims"] = tuple(_whole_number(str(v)) for v in parts)
        except ValueError as exc:
            parser.error(f"--hidden-dims: {exc}")
        if not values["hidden_dims"]:
            parser.error("--hidden-dims: at least one layer")
        try:  # the layer and width bounds any checkpoint must keep to, checked before the corpus loads
            ModelConfig(hidden_dims=values["hidden_dims"])
        except ValueError as exc:
            parser.error(f"--hidden-dims: {exc}")
    try:
        return TrainConfig(**values)
    except ValueError as exc:  # a bound of _BOUNDS, named as the flag is
        name, _, reason = str(exc).partition(":")
        parser.error(f"--{name.replace('_', '-')}:{reason}")


def _shown(value: object) -> str:
    """A default as a flag takes it: `256,128` for a tuple, JSON for the loss weights."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value).replace("%", "%%")
    return str(value).replace("%", "%%")


def _config_file(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """A config file's fields, each checked as its flag would be (a typo fails here, not mid-run)."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        parser.error(f"--config {path}: {exc}")
    if not isinstance(values, dict):
        parser.error(f"--config {path}: expected a JSON object of TrainConfig fields")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    checked: dict[str, Any] = {}
    for name, value in values.items():
        try:
            checked[name] = _file_value(fields[name], value) if name in fields else value
        except (ValueError, OverflowError) as exc:  # OverflowError: an integer beyond a float's range
            parser.error(f"--config {path}: {name}: {exc}")
    return checked


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _file_value(item: dataclasses.Field, value: object) -> Any:
    """A config file's JSON value as its field's declared type, or ValueError saying why not."""
    kind = str(item.type)
    if value is None and "None" in kind:
        return None
    if kind.startswith("dict"):
        return _weights(value)
    if kind.startswith("tuple"):  # hidden_dims: a list here, or "256,128" as the flag takes it
        numbers = isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if not (numbers or isinstance(value, str)):
            raise ValueError(f"{json.dumps(value)} is not a list of whole numbers")
        return value
    expected = {"bool": bool, "str": str, "int": int, "float": float}[kind.split(" ")[0]]
    if expected is bool or expected is str:
        if not isinstance(value, expected):
            raise ValueError(f"{json.dumps(value)} is not a {kind}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{json.dumps(value)} is not a {kind}")
    return _whole_number(json.dumps(value)) if expected is int else _finite(float(value))


def _finite(number: float) -> float:
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a finite number")
    return number


def _weights(value: object) -> dict[str, float]:
    """A JSON object of finite numbers (`--loss-weights '{"bugs": 2}'`), so a typo fails here, not mid-run."""
    if not isinstance(value, dict):
        raise ValueError(f"{json.dumps(value)} is not a JSON object")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()):
        raise ValueError(f"{json.dumps(value)} has a weight that is not a number")
    return {str(k): _finite(float(v)) for k, v in value.items()}


def _whole_number(raw: str) -> int:
    """`400` exactly, however large, and `4e2` as 400; `2.5` is refused."""
    try:
        return int(raw)
    except ValueError:
        number = float(raw)
    if not number.is_integer():
        raise ValueError(f"{raw!r} is not a whole number")
    return int(number)


def _parse_value(item: dataclasses.Field, raw: str, parser: argparse.ArgumentParser) -> Any:
    """A flag's text as its field's declared type: `--out-dir 2024` is a folder, not a number."""
    kind = str(item.type)
    if raw.lower() in ("none", "null") and "None" in kind:
        return None
    try:
        if kind.startswith("dict"):
            try:
                weights = json.loads(raw)
            except ValueError:
                raise ValueError(f"expected a JSON object such as '{{\"bugs\": 2.0}}', got {raw!r}") from None
            return _weights(weights)
        if kind.startswith("int"):
            return _whole_number(raw)
        if kind.startswith("float"):
            return _finite(float(raw))
    except ValueError as exc:
        parser.error(f"--{item.name.replace('_', '-')}: {exc}")
    return raw


# ---------------------------------------------------------------------------- data


@dataclass
class TaskData:
    """One task's samples of one split, as positions in the graph table plus labels."""

    positions: np.ndarray
    labels: np.ndarray
    extra: np.ndarray | None = None  # bugs: the bug line (0 for clean); embedding: (n, 3) positions
    sources: list[str] | None = None  # imports: the sources, for the name index's free names
    modules: list[tuple[str, ...]] | None = None  # imports: every module used, in the vocabulary or not
    projects: list[ImportContext | None] | None = None  # imports: what each one's package offers


@dataclass
class Corpus:
    table: GraphTable
    vocabulary: list[str]
    train: dict[str, TaskData]
    validation: dict[str, TaskData]
    import_aliases: dict[str, str]
    import_names: dict[str, list[str]]
    import_bindings: list[tuple[str, str]]
    import_submodules: dict[str, dict[str, bool]]
    """package -> {submodule: whether importing the package loads it} (`training.name_table`)."""
    training_imports: list[ImportSample]
    """Every training-split import sample, not only those chosen: the import combiner's evidence rows
    (`training.import_folds`)."""
    import_lines: ImportLines
    """The training split's import lines, which the name table and the combiner's folds are built from."""
    executed_positions: np.ndarray
    executed_labels: np.ndarray
    executed_groups: list[str]
    summary: dict[str, Any]
    executed: list[ExecutedSample] = field(default_factory=list)
    """The executed HumanEval samples used (confidence labels), for the confidence scorer."""
    training_mutants: list[BugSample] = field(default_factory=list)
    """More training-split mutants, for the bug-site scorers alone (`TrainConfig.site_extra_mutants` and
    `site_swapped_arguments`)."""
    bug_samples: dict[str, list[BugSample]] = field(default_factory=dict)
    """The bug-site scorers' clean/buggy pairs (training/sites.py): "train" from the site corpus
    (`TrainConfig.site_units_per_package`), "validation" the network's validation samples as used."""


def limit_samples(items: list, limit: int | None, seed: int) -> list:
    """At most `limit` of `items`, a seeded random choice (all of them when `limit` is None)."""
    if limit is None or len(items) <= limit:
        return items
    rng = random.Random(seed)
    return rng.sample(items, limit)


def chosen_samples(items: Sequence, split: str, config: TrainConfig) -> list:
    """The samples of `split` that training takes: a seeded choice of at most `max_samples_per_task`
    (validation is cut again to `validation_limit` where it is scored)."""
    return limit_samples([s for s in items if s.split == split], config.max_samples_per_task, config.seed)


def load_corpus(config: TrainConfig, log: Callable[[str], None] = print) -> Corpus:
    """Build (or read from cache) every task's samples and all their graphs."""
    data = config.data_config()
    units = corpus_units(data)
    imports = import_samples(data, units)
    bugs = bug_samples(data, units)
    triples = embedding_triples(data, units)
    executed = [s for group in executed_samples(data).values() for s in group]
    vocabulary = import_vocabulary(imports, config.import_vocab_size)
    by_split = {split: {"imports": chosen_samples(imports, split, config), "bugs": chosen_samples(bugs, split, config),
                        "embedding": chosen_samples(triples, split, config)} for split in ("train", "validation")}
    validation = {k: limit_samples(v, config.validation_limit, config.seed) for k, v in by_split["validation"].items()}
    sources = [s.source for split in by_split.values() for s in split["imports"] + split["bugs"]]
    sources += [x for split in by_split.values() for t in split["embedding"] for x in (t.anchor, t.positive,
                                                                                       t.negative)]
    sources += [s.source for s in executed]
    cache = Path(config.cache_dir) if config.cache_dir else data.cache_path()
    table = featurize(sources, cache_dir=cache, workers=config.featurize_workers, progress=config.progress)
    lines = import_lines(data, units)  # the training split's files, per package
    aliases, names = statement_tables(lines.code_table())  # how training code writes its imports
    kept_executed = [s for s in executed if table.has(s.source)]
    sites = site_samples(config, units, bugs)
    corpus = Corpus(
        table=table,
        vocabulary=vocabulary,
        train={k: _task(k, v, table, vocabulary) for k, v in by_split["train"].items()},
        validation={k: _task(k, v, table, vocabulary, data) for k, v in validation.items()},
        import_aliases=aliases,
        import_names=names,
        import_bindings=[pair for line in lines.table() for pair in statement_bindings(line)],
        import_submodules=package_submodules(data, every_split=True),
        training_imports=[s for s in imports if s.split == "train"],
        import_lines=lines,
        executed_positions=np.array([table.position(s.source) for s in kept_executed], dtype=np.int64),
        executed_labels=np.array([s.passed for s in kept_executed], dtype=np.float32),
        executed_groups=[s.problem_id for s in kept_executed],
        executed=kept_executed,
        training_mutants=sites.extra_mutants + sites.swapped,
        bug_samples={"train": sites.pairs, "validation": validation["bugs"]},
        summary={
            "units": len(units),
            "packages": len({u.package for u in units}),
            "import_samples": len(imports),
            "bug_samples": len(bugs),
            "site_units": sites.units,
            "site_bug_samples": len(sites.pairs),
            "training_mutants": len(sites.extra_mutants),
            "swapped_argument_mutants": len(sites.swapped),
            "embedding_triples": len(triples),
            "executed_samples": len(executed),
            "executed_passed": int(sum(s.passed for s in executed)),
            "graphs": len(table),
            "import_vocabulary": len(vocabulary),
        },
    )
    log(f"data: {json.dumps(corpus.summary)}")
    return corpus


@dataclass(frozen=True)
class SiteSamples:
    """What the bug-site scorers train on: `pairs` (training-split clean/buggy samples), the extra mutants
    and the swapped-argument ones, all from `units` units of the site corpus."""

    units: int
    pairs: list[BugSample]
    extra_mutants: list[BugSample]
    swapped: list[BugSample]


def site_samples(config: TrainConfig, units: Sequence[CodeUnit] | None = None,
                 bugs: Sequence[BugSample] | None = None) -> SiteSamples:
    """The bug-site scorers' training samples for `config` (built or read from the cache); `units` and
    `bugs`, the network's corpus and its bug samples when the caller has them, are reused when the
    site corpus is the same."""
    data, site_data = config.data_config(), config.site_data_config()
    same = site_data == data and units is not None and bugs is not None
    site_units = units if same else corpus_units(site_data)
    site_bugs = bugs if same else bug_samples(site_data, site_units)
    extra = training_mutants(site_data, site_units, per_unit=config.site_extra_mutants) \
        if config.site_extra_mutants > 0 else []
    swapped = mutants_of_kind(site_data, site_units, kind="swapped_arguments",
                              per_unit=config.site_swapped_arguments) if config.site_swapped_arguments > 0 else []
    pairs = chosen_samples(site_bugs, "train", config)
    return SiteSamples(len(site_units), pairs, extra, swapped)


def _restart_metrics_log(path: Path, start_epoch: int, resumed_from: Path | None = None) -> None:
    """Start the run's metrics log with the epochs before `start_epoch` of the run it resumes
    (`resumed_from`, that run's state file; its folder's log), and nothing else: a fresh run starts
    an empty log (a folder used before would otherwise put two runs in one log and one plot), and a
    resumed one keeps its history but not the later epochs of an abandoned run, nor a line cut short
    by a crash, nor the log of another run in the folder it writes to. Written atomically."""
    history = resumed_from.parent / path.name if resumed_from is not None and start_epoch > 1 else None
    if history is None or not history.exists():
        if path.exists():
            write_atomically(path, b"")
        return
    kept = [line for line in history.read_text(encoding="utf-8").splitlines() if _logged_epoch(line) < start_epoch]
    write_atomically(path, "".join(f"{line}\n" for line in kept).encode("utf-8"))


def _logged_epoch(line: str) -> float:
    """The epoch a metrics line records; infinity for a line that is not a whole record."""
    try:
        epoch = json.loads(line).get("epoch")
    except (json.JSONDecodeError, AttributeError):
        return math.inf
    return epoch if type(epoch) is int else math.inf


def _task(kind: str, samples: list, table: GraphTable, vocabulary: list[str],
          projects_from: DataConfig | None = None) -> TaskData:
    """One task's tensors; with `projects_from`, import samples also get their package's project index."""
    if kind == "imports":
        return _import_task(samples, table, vocabulary, projects_from)
    if kind == "bugs":
        return _bug_task(samples, table)
    return _embedding_task(samples, table)


def _import_task(samples: list[ImportSample], table: GraphTable, vocabulary: list[str],
                 projects_from: DataConfig | None = None) -> TaskData:
    index = {m: i for i, m in enumerate(vocabulary)}
    kept = [s for s in samples if table.has(s.source) and any(m in index for m in s.modules)]
    labels = np.zeros((len(kept), len(vocabulary)), dtype=np.float32)
    for row, sample in enumerate(kept):
        for module in sample.modules:
            if module in index:
                labels[row, index[module]] = 1.0
    projects = None
    if projects_from is not None:
        projects = sample_contexts(kept, package_projects(projects_from, {s.group for s in kept}))
    return TaskData(np.array([table.position(s.source) for s in kept], dtype=np.int64), labels,
                    sources=[s.source for s in kept], modules=[s.modules for s in kept], projects=projects)


def _bug_task(samples: list[BugSample], table: GraphTable) -> TaskData:
    kept = [s for s in samples if table.has(s.source)]
    labels = np.zeros((len(kept), len(BUG_KINDS)), dtype=np.float32)
    for row, sample in enumerate(kept):
        if sample.buggy and sample.kind in BUG_KINDS:
            labels[row, BUG_KINDS.index(sample.kind)] = 1.0
    lines = np.array([s.line if s.buggy else 0 for s in kept], dtype=np.int64)
    return TaskData(np.array([table.position(s.source) for s in kept], dtype=np.int64), labels, lines)


def _embedding_task(samples: list[EmbeddingTriple], table: GraphTable) -> TaskData:
    kept = [t for t in samples if all(table.has(x) for x in (t.anchor, t.positive, t.negative))]
    triples = np.array([[table.position(x) for x in (t.anchor, t.positive, t.negative)] for t in kept],
                       dtype=np.int64).reshape(-1, 3)
    return TaskData(triples[:, 0], np.zeros(len(kept), np.float32), triples)


# ---------------------------------------------------------------------------- distributed and devices


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1
    distributed: bool = False
    """A process group is up (under torchrun), even one of a single process: the same code path
    then runs on one GPU as on many."""

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank; nccl is told this rank's GPU, else it guesses GPU 0 for all."""
        if self.distributed:
            dist.barrier(device_ids=[self.device.index or 0] if self.device.type == "cuda" else None)


def setup_runtime(config: TrainConfig) -> Runtime:
    """Pick the device, seed every generator, and join the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = _device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before nccl starts, so that each rank talks from its own GPU
    under_torchrun = "TORCHELASTIC_RUN_ID" in os.environ or world > 1
    if under_torchrun and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if config.threads:
        torch.set_num_threads(config.threads)
    random.seed(config.seed + rank)
    np.random.seed(config.seed + rank)
    torch.manual_seed(config.seed + rank)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    return Runtime(device, rank, world, dist.is_initialized())


def _check_device(name: str) -> None:
    """ValueError, said plainly, for a device this machine cannot train on (rather than torch's
    traceback once the run has started)."""
    if name == "auto":
        return
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):  # torch names xpu, meta, hpu, ... too
        raise ValueError(f"device: {name!r} is not one training runs on: say auto, cpu, cuda, cuda:N or mps")
    kind = device.type
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r}, but this torch ({torch.__version__}) sees no CUDA GPU here")
    if kind == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device: {name!r}, but this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError(f"device: {name!r}, but MPS is not available here")


def _device(name: str, local_rank: int) -> torch.device:
    if name == "cuda":  # each torchrun rank on its own GPU
        return torch.device("cuda", local_rank)
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(runtime: Runtime) -> str:
    """The device in words, for the log and the checkpoint: which GPU, or how many CPU threads."""
    device = runtime.device
    threads = torch.get_num_threads()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{threads} thread{'s' * (threads != 1)}" if device.type == "cpu" else device.type
    group = f", {runtime.world} processes ({dist.get_backend()})" if runtime.distributed else ""
    return f"{device} ({where}){group}"


# ---------------------------------------------------------------------------- losses


@dataclass
class StepBatch:
    """Positions of one step's graphs, laid out imports | bugs | anchors | positives | negatives."""

    imports: np.ndarray
    import_labels: np.ndarray
    bugs: np.ndarray
    bug_labels: np.ndarray
    bug_lines: np.ndarray
    triples: np.ndarray

    def positions(self) -> np.ndarray:
        return np.concatenate([self.imports, self.bugs, self.triples[:, 0], self.triples[:, 1], self.triples[:, 2]])

    @property
    def bug_rows(self) -> slice:
        """Where the bug samples' outputs sit in a forward over `positions()`."""
        return slice(len(self.imports), len(self.imports) + len(self.bugs))


def _strongest_bug_scores(out: GraphOutput, step: StepBatch) -> np.ndarray:
    """(bugs,) each bug sample's most likely kind's probability: what a bug report is thresholded on."""
    return torch.sigmoid(out.bug_logits[step.bug_rows]).max(dim=1).values.cpu().numpy()


def forward_step(model: torch.nn.Module, table: GraphTable, step: StepBatch, device: torch.device
                 ) -> tuple[GraphOutput, GraphBatch]:
    """One forward over all of a step's graphs: (outputs, the collated batch)."""
    batch = table.batch(step.positions())
    return model(*_to(batch_tensors(batch), device)), batch


def step_losses(model: torch.nn.Module, table: GraphTable, step: StepBatch, config: TrainConfig,
                device: torch.device) -> dict[str, Tensor]:
    """One forward over all of a step's graphs; the five task losses."""
    out, batch = forward_step(model, table, step, device)
    return task_losses(out, batch, table, step, config, device)


def task_losses(out: GraphOutput, batch: GraphBatch, table: GraphTable, step: StepBatch, config: TrainConfig,
                device: torch.device) -> dict[str, Tensor]:
    """The five task losses of one forward's outputs, sliced by the step's layout."""
    ni, nb, nt = len(step.imports), len(step.bugs), len(step.triples)
    bug_slice = step.bug_rows
    losses: dict[str, Tensor] = {}
    if ni:
        losses["imports"] = F.binary_cross_entropy_with_logits(
            out.import_logits[:ni], torch.from_numpy(step.import_labels).to(device))
    if nb:
        bug_labels = torch.from_numpy(step.bug_labels).to(device)
        losses["bugs"] = F.binary_cross_entropy_with_logits(out.bug_logits[bug_slice], bug_labels)
        correct = 1.0 - bug_labels.max(dim=1).values
        losses["confidence"] = F.binary_cross_entropy_with_logits(out.confidence_logit[bug_slice], correct)
        location = _location_loss(out.bug_node_logits, batch, table, step, ni)
        if location is not None:
            losses["location"] = location
    if nt:
        base = ni + nb
        anchors = out.embedding[base: base + nt]
        positives = out.embedding[base + nt: base + 2 * nt]
        negatives = out.embedding[base + 2 * nt: base + 3 * nt]
        losses["embedding"] = _contrastive(anchors, positives, negatives, config.embedding_temperature)
        if config.embedding_margin > 0:
            losses["embedding"] = losses["embedding"] + _mutant_margin(anchors, positives, negatives,
                                                                       config.embedding_margin)
    return losses


def _mutant_margin(anchors: Tensor, positives: Tensor, negatives: Tensor, margin: float) -> Tensor:
    """Hinge on each anchor's own triple: its variant closer than its mutant by `margin` (cosine)."""
    gap = (anchors * positives).sum(dim=1) - (anchors * negatives).sum(dim=1)  # (B,)
    return F.relu(margin - gap).mean()


def _contrastive(anchors: Tensor, positives: Tensor, negatives: Tensor, temperature: float) -> Tensor:
    """InfoNCE: each anchor picks its own variant among all variants and all one-bug mutants."""
    logits = torch.cat([anchors @ positives.T, anchors @ negatives.T], dim=1) / temperature  # (B, 2B)
    target = torch.arange(anchors.shape[0], device=anchors.device)
    return F.cross_entropy(logits, target)


def bug_node_targets(table: GraphTable, positions: np.ndarray, lines: np.ndarray) -> list[int | None]:
    """For each buggy graph, the innermost non-module node whose lines contain the bug; None if none."""
    targets: list[int | None] = []
    for position, line in zip(positions, lines, strict=True):
        if line <= 0:
            targets.append(None)
            continue
        starts, ends = table.node_span(int(position))
        best = None
        for node in range(1, len(starts)):
            if starts[node] <= line <= ends[node] and (best is None or starts[node] >= starts[best]):
                best = node
        targets.append(best)
    return targets


def _location_loss(node_logits: Tensor, batch: GraphBatch, table: GraphTable, step: StepBatch, offset: int
                   ) -> Tensor | None:
    targets = bug_node_targets(table, step.bugs, step.bug_lines)
    terms = []
    for i, target in enumerate(targets):
        if target is None:
            continue
        start = int(batch.graph_starts[offset + i])
        size = int(batch.graph_sizes[offset + i])
        if size < 2:
            continue
        logits = node_logits[start: start + size]
        terms.append(-F.log_softmax(logits, dim=0)[target])
    return torch.stack(terms).mean() if terms else None


# ---------------------------------------------------------------------------- batches


def _shard(count: int, runtime: Runtime) -> np.ndarray:
    return np.arange(count)[runtime.rank:: runtime.world]


def steps_per_epoch(task_sizes: Sequence[int], world: int, batch_size: int, max_steps: int = 0) -> int:
    """Batches in one epoch, the same on every rank: enough for the largest task's largest shard
    (rank 0's, ceil(n / world) samples). Under DistributedDataParallel every step all-reduces the
    gradients, so a rank that stopped a step early would leave the others waiting on it for good."""
    largest = max((math.ceil(size / world) for size in task_sizes), default=0)
    steps = max(1, math.ceil(largest / batch_size))
    return min(steps, max_steps) if max_steps else steps


def _cycle(indices: np.ndarray, rng: np.random.Generator) -> Iterator[int]:
    while True:
        yield from rng.permutation(indices)


def epoch_batches(corpus: Corpus, config: TrainConfig, runtime: Runtime,
                  rng: np.random.Generator) -> Iterator[StepBatch]:
    """One epoch: as many steps as the largest task needs; smaller tasks cycle."""
    train = corpus.train
    shards = {k: _shard(len(v.positions), runtime) for k, v in train.items()}
    steps = steps_per_epoch([len(v.positions) for v in train.values()], runtime.world, config.batch_size,
                            config.max_steps_per_epoch)
    iterators = {k: _cycle(s, rng) if len(s) else iter(()) for k, s in shards.items()}
    for _ in range(steps):
        picked = {k: np.fromiter((next(iterators[k]) for _ in range(min(config.batch_size, len(shards[k])))),
                                 dtype=np.int64) for k in train}
        yield _step_batch(train, picked)


def _step_batch(tasks: dict[str, TaskData], picked: dict[str, np.ndarray]) -> StepBatch:
    imports, bugs, emb = tasks["imports"], tasks["bugs"], tasks["embedding"]
    i, b, e = picked["imports"], picked["bugs"], picked["embedding"]
    return StepBatch(
        imports=imports.positions[i], import_labels=imports.labels[i],
        bugs=bugs.positions[b], bug_labels=bugs.labels[b], bug_lines=bugs.extra[b],
        triples=emb.extra[e],
    )


def validation_batches(tasks: dict[str, TaskData], batch_size: int) -> Iterator[StepBatch]:
    longest = max(len(t.positions) for t in tasks.values())
    for start in range(0, longest, batch_size):
        picked = {k: np.arange(start, min(start + batch_size, len(t.positions))) for k, t in tasks.items()}
        yield _step_batch(tasks, picked)


# ---------------------------------------------------------------------------- evaluation during training


@torch.no_grad()
def evaluate(model: torch.nn.Module, corpus: Corpus, config: TrainConfig, device: torch.device) -> dict[str, float]:
    """Validation losses per task and two quick metrics (bug AUROC, import recall@5), in eval mode."""
    model.eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    bug_scores, bug_truth, hits, wanted = [], [], 0, 0
    for step in validation_batches(corpus.validation, config.batch_size):
        out, batch = forward_step(model, corpus.table, step, device)
        for name, value in task_losses(out, batch, corpus.table, step, config, device).items():
            sums[name] = sums.get(name, 0.0) + float(value)
            counts[name] = counts.get(name, 0) + 1
        ni, nb = len(step.imports), len(step.bugs)
        if nb:
            bug_scores.extend(_strongest_bug_scores(out, step).tolist())
            bug_truth.extend(step.bug_labels.max(axis=1).tolist())
        if ni:
            top = torch.topk(out.import_logits[:ni], k=min(5, out.import_logits.shape[1]), dim=1).indices.cpu()
            for row, labels in zip(top.numpy(), step.import_labels, strict=True):
                truth = set(np.flatnonzero(labels).tolist())
                hits += len(truth & set(row.tolist()))
                wanted += len(truth)
    model.train()
    metrics = {f"val_{k}": sums[k] / counts[k] for k in sums}
    # The confidence head is refitted on executed-test labels at the end, so its corpus loss (an
    # auxiliary task) does not choose the epoch; the other tasks' weighted losses do.
    metrics["val_loss"] = sum(config.loss_weights[k] * metrics[f"val_{k}"] for k in sums
                              if k != "confidence")
    if len(set(bug_truth)) == 2:
        metrics["val_bug_auroc"] = auroc(np.array(bug_truth), np.array(bug_scores))
    if wanted:
        metrics["val_import_recall_at_5"] = hits / wanted
    return metrics


def _to(tensors, device):
    return tuple(t.to(device) if isinstance(t, Tensor) else t for t in tensors)


# ---------------------------------------------------------------------------- checkpoints


def _atomic_torch_save(obj: Any, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomically(path, buffer.getvalue())


def save_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau, epoch: int, best: float,
               bad_epochs: int, config: TrainConfig, rng: np.random.Generator, best_epoch: int = 0,
               duration_s: float = 0.0) -> None:
    """Everything `--resume` needs, loadable with torch.load(weights_only=True); `duration_s`: how
    long the run has taken so far, so a resumed run's checkpoints count the time before it too."""
    _atomic_torch_save({
        "duration_s": duration_s,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "best": best,
        "bad_epochs": bad_epochs,
        "best_epoch": best_epoch,
        "config": json.dumps(config.to_dict()),
        "torch_rng": torch.get_rng_state(),
        # dropout on a GPU draws from the GPU's generator, which the CPU's state does not cover
        "cuda_rng": torch.cuda.get_rng_state() if next(model.parameters()).is_cuda else torch.empty(0),
        "python_rng": json.dumps(random.getstate()),
        "numpy_rng": json.dumps(rng.bit_generator.state),
    }, path)


def load_state(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


class RunError(ValueError):
    """A run that cannot start, found before any data is built; its message names the flag."""


class ResumeError(RunError):
    """A `--resume` state that cannot continue this run: unreadable, incomplete, or trained with
    settings the new command changes."""


def _folder(path: Path, flag: str) -> None:
    """Make `path` a folder to write in, or RunError: at the start, not when the first file is due."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{flag} {path}: cannot make it a folder ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise RunError(f"{flag} {path}: cannot write there")


def _check_not_another_run(out: Path, config: TrainConfig) -> None:
    """RunError for an `--out-dir` holding a run this one would overwrite (the default folder, or a
    command run twice), unless `--overwrite` says so or this run resumes that very state."""
    state = out / "state.pt"
    resumed = Path(config.resume).resolve() if config.resume else None
    if state.exists() and not config.overwrite and resumed != state.resolve():
        raise RunError(f"--out-dir {out} holds another run (its state.pt): --resume {state} to go on with it, "
                       f"--overwrite to replace it, or another --out-dir")


_STATE_KEYS = ("model", "optimizer", "scheduler", "epoch", "best", "bad_epochs", "config", "torch_rng",
               "python_rng", "numpy_rng")
_CHANGEABLE_ON_RESUME = frozenset({
    "epochs", "early_stopping_patience", "min_delta", "out_dir", "overwrite", "checkpoint_every", "resume",
    "device", "threads", "progress", "ship", "cache_dir", "featurize_workers", "bug_false_alarm_rate", "site_epochs",
    "site_hidden", "site_hidden_epochs", "site_units_per_package", "site_extra_mutants", "site_swapped_arguments",
    "confidence_site_epochs", "confidence_mutants_per_kind"})
"""What a resumed run may set anew: how long it goes on and when it stops (which epoch counts as
better, and how many without), where it writes, what it runs on, and the scorers fitted after the
network. Everything else (the data, the network, the
optimiser and its schedule, the losses) is fixed by the state: the optimizer's own state would keep
the old learning rate while the checkpoint recorded the new one."""


def checked_state(path: Path, config: TrainConfig) -> dict[str, Any]:
    """The state at `path`, read before any data is built, or ResumeError saying why it cannot
    continue a run configured as `config`."""
    try:
        state = load_state(path)
    except Exception as exc:  # missing, a folder, empty, not a state, or one that is not weights-only
        raise ResumeError(f"--resume: cannot read {path}: {type(exc).__name__}: {exc}") from None
    missing = [key for key in _STATE_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ResumeError(f"--resume: {path} is not a training state: it lacks {missing}")
    try:
        trained = json.loads(state["config"])
    except (TypeError, ValueError):
        raise ResumeError(f"--resume: {path} is not a training state: its config is not JSON") from None
    now = config.to_dict()
    changed = sorted(name for name in trained.keys() & now.keys()
                     if name not in _CHANGEABLE_ON_RESUME and trained[name] != now[name])
    if changed:
        was = ", ".join(f"{name}={trained[name]!r} (now {now[name]!r})" for name in changed)
        raise ResumeError(f"--resume: {path} was trained with {was}: resuming it with other values would not "
                          "continue it; drop those flags, or start a new run")
    if state.get("best_epoch", 0):  # the run ends on its best weights, kept beside its state
        best = path.parent / "best.safetensors"
        try:
            network = load_checkpoint(best, expected_layout_version=FEATURE_LAYOUT_VERSION).config
        except CheckpointError as exc:
            raise ResumeError(f"--resume: the run's best weights beside its state cannot be read: {exc}") from None
        if (list(network.hidden_dims), network.embedding_dim) != (list(trained["hidden_dims"]),
                                                                  trained["embedding_dim"]):
            raise ResumeError(f"--resume: {best} holds another network ({list(network.hidden_dims)}, embedding "
                              f"{network.embedding_dim}) than the state's: not this run's best weights")
    return state


def write_inference_checkpoint(path: Path, model: GraphSAGEModel, corpus: Corpus, training: dict[str, Any],
                               site_weights: dict[str, np.ndarray] | None = None,
                               confidence_weights: dict[str, np.ndarray] | None = None) -> Path:
    return save_checkpoint(
        path,
        weights=model.numpy_weights(),
        config=model.config,
        vocabularies={"imports": corpus.vocabulary, "bug_kinds": list(BUG_KINDS)},
        feature_layout_version=FEATURE_LAYOUT_VERSION,
        training=training,
        site_weights=site_weights,
        confidence_weights=confidence_weights,
    )


def _commit() -> str | None:
    """The commit the run's code came from, with "-dirty" when the work tree had changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("-dirty" if dirty else "")) or None


@dataclass(frozen=True)
class RunFacts:
    """What a run's checkpoints say of it, fixed when it starts: the commit its code came from, the
    device it trains on, and when it began (time.monotonic(), for its duration)."""

    commit: str | None
    device: str
    started: float


# ---------------------------------------------------------------------------- the run


_PERIODIC = re.compile(r"epoch-\d{3,}\.safetensors")
"""The periodic checkpoints' names (`epoch-{epoch:03d}`: four digits past epoch 999)."""


def _forget_earlier_epochs(out: Path, log: Callable[[str], None]) -> None:
    """A fresh run in a folder an earlier run used: its periodic checkpoints go, as its metrics log
    does, once this run's data is built and its first epoch about to begin (best, last and state.pt
    are overwritten in that epoch), so every file there is this run's."""
    earlier = sorted(path for path in out.iterdir() if _PERIODIC.fullmatch(path.name))
    for path in earlier:
        path.unlink(missing_ok=True)
    if earlier:
        log(f"removed {len(earlier)} periodic checkpoints of an earlier run in {out}")


def train(config: TrainConfig, log: Callable[[str], None] = print) -> Path:
    """Run training as configured; returns the path of the best inference checkpoint."""
    runtime = setup_runtime(config)
    out = Path(config.out_dir)
    if runtime.main:
        _folder(out, "--out-dir")
        _folder(config.data_config().cache_path(), "--cache-dir")
        _check_not_another_run(out, config)
    run = RunFacts(commit=_commit(), device=describe_device(runtime), started=time.monotonic())
    if runtime.main:
        log(f"device: {run.device}")
    state = checked_state(Path(config.resume), config) if config.resume else None  # before hours of data
    if state is not None:  # the run's clock goes on from where the state stopped it
        run = dataclasses.replace(run, started=run.started - float(state.get("duration_s", 0.0)))
    corpus = load_corpus(config, log if runtime.main else (lambda *_: None))

    # model, normalisation, optimiser, schedule
    model_config = ModelConfig(feature_dim=FEATURE_DIM, hidden_dims=tuple(config.hidden_dims),
                               embedding_dim=config.embedding_dim, num_imports=len(corpus.vocabulary),
                               num_bug_kinds=len(BUG_KINDS), dropout=config.dropout)
    model = GraphSAGEModel(model_config)
    mean, std = _feature_statistics(corpus)
    model.set_feature_statistics(torch.from_numpy(mean), torch.from_numpy(std))
    model.to(runtime.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=config.plateau_factor,
                                                           patience=config.plateau_patience)
    rng = np.random.default_rng(config.seed + runtime.rank)
    start_epoch, best, bad_epochs, best_epoch = 1, math.inf, 0, 0
    if state is not None:
        (start_epoch, best, bad_epochs, best_epoch), rng = _resume(state, model, optimizer, scheduler, rng, config,
                                                                    runtime)
        log(f"resumed from {config.resume} at epoch {start_epoch}")
    trainee = model
    if runtime.distributed:
        # A step may lack a task (an empty shard, no locatable bug), leaving a head without gradient.
        trainee = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    metrics_log = out / "metrics.jsonl"
    if runtime.main:
        _restart_metrics_log(metrics_log, start_epoch, Path(config.resume) if config.resume else None)
        if state is None or Path(config.resume).resolve().parent != out.resolve():  # not the resumed run's own
            _forget_earlier_epochs(out, log)
    best_path = out / "best.safetensors"
    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if config.resume and best_epoch and runtime.main:  # the best so far (only rank 0 finishes the run)
        best_weights = _resumed_best(Path(config.resume).parent / "best.safetensors", best_weights)

    # the loop
    for epoch in range(start_epoch, config.epochs + 1):
        if bad_epochs >= config.early_stopping_patience:  # checked first: a resumed run may have stopped
            log(f"early stopping after epoch {epoch - 1}: no improvement of {config.min_delta} in "
                f"{bad_epochs} epochs")
            break
        epoch_started = time.monotonic()
        metrics = train_epoch(trainee, model, optimizer, epoch_batches(corpus, config, runtime, rng), corpus, config,
                              runtime, f"epoch {epoch}")
        metrics.update(evaluate(model, corpus, config, runtime.device))
        metrics.update(epoch=epoch, lr=optimizer.param_groups[0]["lr"], seconds=time.monotonic() - epoch_started)
        scheduler.step(metrics["val_loss"])  # after the log takes the rate this epoch trained with
        improved = metrics["val_loss"] < best - config.min_delta
        if improved:
            best, bad_epochs, best_epoch = metrics["val_loss"], 0, epoch
            best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        if runtime.main:
            log(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}))
            with open(metrics_log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(metrics) + "\n")
            meta = _metadata(config, corpus, metrics, epoch, run)
            write_inference_checkpoint(out / "last.safetensors", model, corpus, meta)
            if improved:  # before the state that names this epoch best, so a crash between leaves them agreeing
                write_inference_checkpoint(best_path, model, corpus, meta)
            save_state(out / "state.pt", model, optimizer, scheduler, epoch, best, bad_epochs, config, rng,
                       best_epoch, time.monotonic() - run.started)
            if config.checkpoint_every and epoch % config.checkpoint_every == 0:
                write_inference_checkpoint(out / f"epoch-{epoch:03d}.safetensors", model, corpus, meta)

    # finish: best weights, confidence from executed tests, thresholds, the final checkpoint
    model.load_state_dict(best_weights)
    runtime.barrier()
    if not runtime.main:
        dist.destroy_process_group()
        return best_path
    model.eval()
    final = _finish(model, corpus, config, run, out, log, best_epoch)
    if runtime.distributed:
        dist.destroy_process_group()
    return final


def train_epoch(trainee: torch.nn.Module, model: GraphSAGEModel, optimizer: torch.optim.Optimizer,
                batches: Iterator[StepBatch], corpus: Corpus, config: TrainConfig, runtime: Runtime,
                desc: str) -> dict[str, float]:
    """One pass over `batches`: a weighted multi-task loss, clipped gradients, an optimizer step each.
    `trainee` is `model`, or its DistributedDataParallel wrapper. Returns the mean losses (`train_*`)."""
    sums: dict[str, float] = {}
    steps = 0
    total = steps_per_epoch([len(v.positions) for v in corpus.train.values()], runtime.world, config.batch_size,
                            config.max_steps_per_epoch)  # as `epoch_batches` counts them: a bar with an ETA
    bar = tqdm(batches, desc=desc, total=total, file=sys.stderr, disable=not (config.progress and runtime.main))
    for step in bar:
        losses = step_losses(trainee, corpus.table, step, config, runtime.device)
        loss = sum(config.loss_weights[k] * v for k, v in losses.items())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        steps += 1
        for name, value in losses.items():
            sums[name] = sums.get(name, 0.0) + value.item()
        value = loss.item()
        if not math.isfinite(value):  # the weights are lost from here on: stop with the last epoch's files
            raise RunError(f"{desc}, step {steps}: the loss became {value}; try a lower --lr or --grad-clip "
                           f"(the files of the last finished epoch are kept)")
        sums["loss"] = sums.get("loss", 0.0) + value
        bar.set_postfix(loss=f"{value:.3f}")
    return {f"train_{k}": v / steps for k, v in sums.items()}


def _resume(state: dict[str, Any], model: GraphSAGEModel, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau, rng: np.random.Generator, config: TrainConfig,
            runtime: Runtime) -> tuple[tuple[int, float, int, int], np.random.Generator]:
    """Restore a run from its state.pt (`checked_state`): model, optimizer, schedule and every random
    stream. Returns (the epoch to start at, the best loss, epochs without improvement, the best epoch)
    and the numpy generator to go on with."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    start_epoch = state["epoch"] + 1
    torch.set_rng_state(state["torch_rng"])
    if runtime.device.type == "cuda" and state.get("cuda_rng") is not None and state["cuda_rng"].numel():
        torch.cuda.set_rng_state(state["cuda_rng"])
    random.setstate(_python_state(json.loads(state["python_rng"])))
    rng.bit_generator.state = json.loads(state["numpy_rng"])
    if runtime.rank > 0:  # state.pt holds rank 0's streams: the others draw their own again
        rng = _reseed_rank(config.seed, runtime.rank, start_epoch)
    return (start_epoch, state["best"], state["bad_epochs"], state.get("best_epoch", 0)), rng


def _resumed_best(path: Path, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The best weights of the run being resumed, read from its own folder (the new `--out-dir` may
    be another, or hold some other run's file): without them the run would end on the last epoch's."""
    if not path.exists():
        raise FileNotFoundError(f"cannot resume: the run's best weights, {path}, are missing beside its state")
    saved = load_checkpoint(path, expected_layout_version=FEATURE_LAYOUT_VERSION).weights
    return {k: torch.from_numpy(saved[k].copy()) for k in like}


def _reseed_rank(seed: int, rank: int, epoch: int) -> np.random.Generator:
    """Fresh streams for a rank other than 0 on resume (state.pt, written by rank 0, holds only its
    own): still one per rank and seeded, so no two ranks share dropout masks or batch order, though
    not the streams an uninterrupted run would have drawn."""
    mixed = seed + rank + 1_000_003 * epoch
    random.seed(mixed)
    torch.manual_seed(mixed)
    return np.random.default_rng(mixed)


def _python_state(value: Any) -> Any:
    """JSON turned random.getstate()'s tuples into lists; setstate wants them back."""
    return tuple(_python_state(v) for v in value) if isinstance(value, list) else value


TRAINING_STD_FLOOR = 0.1
"""Features are log-counts and ratios of order 1: a feature nearly constant in training must not turn a
rare value at inference into a huge input, so the std stored in a checkpoint is at least this. (The
model's own FEATURE_STD_FLOOR, 1e-6, only guards a division by zero in any checkpoint.)"""


def _feature_statistics(corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std over the nodes of the training graphs (sampled when many)."""
    positions = np.unique(np.concatenate([t.positions for t in corpus.train.values()] +
                                         [t.extra.ravel() for t in corpus.train.values()
                                          if t.extra is not None and t.extra.ndim == 2]))
    positions = positions[:20000]
    rows = np.concatenate([corpus.table.graph(int(p))[0] for p in positions]) if len(positions) else \
        np.zeros((1, FEATURE_DIM), np.float32)
    std = np.maximum(rows.std(axis=0), TRAINING_STD_FLOOR)
    return rows.mean(axis=0).astype(np.float32), std.astype(np.float32)


def _metadata(config: TrainConfig, corpus: Corpus, metrics: dict[str, Any], epoch: int,
              run: RunFacts) -> dict[str, Any]:
    return {
        "trained": True,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": run.commit,
        "machine": describe_machine(),
        "device": run.device,
        "duration_s": round(time.monotonic() - run.started, 1),
        "epoch": epoch,
        "data": corpus.summary,
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float)},
        "config": config.to_dict(),
        "import_aliases": corpus.import_aliases,
        "import_names": corpus.import_names,
        "import_submodules": corpus.import_submodules,
    }


def _finish(model: GraphSAGEModel, corpus: Corpus, config: TrainConfig, run: RunFacts, out: Path,
            log: Callable[[str], None], best_epoch: int) -> Path:
    weights = model.numpy_weights()
    if len(corpus.executed_positions) and len(set(corpus.executed_labels.tolist())) == 2:
        features = readouts(model.config, weights, corpus.table, corpus.executed_positions)
        l2 = choose_l2(features, corpus.executed_labels, corpus.executed_groups, seed=config.seed)
        weight, bias = fit_logistic(features, corpus.executed_labels, l2=l2)
        weights["confidence_head.weight"] = weight[None, :].astype(np.float32)
        weights["confidence_head.bias"] = np.array([bias], np.float32)
        model.load_numpy_weights(weights)
        log(f"confidence head fitted on {len(corpus.executed_labels)} executed HumanEval samples (l2 {l2})")
    metrics = evaluate(model, corpus, config, next(model.parameters()).device)
    meta = _metadata(config, corpus, metrics, best_epoch, run)
    index, import_threshold = fit_import_index(model, corpus, config, log)
    meta["import_index"] = index.to_json()
    log(f"import combiner weights {[round(w, 3) for w in index.weights]} ({len(index.names)} names)")
    sites = fit_bug_sites(model, corpus, config, log)
    meta["thresholds"] = {"imports": import_threshold,
                          "bugs": sites.threshold if sites else bug_threshold(model, corpus, config)}
    site_weights = sites.tensors() if sites else None
    if sites:
        meta["bug_sites"] = sites.metadata()
    served_sites = site_model_from(site_weights, meta["bug_sites"]) if sites else None  # as the daemon reads them
    confidence = fit_confidence_sites(corpus, config, log, served_sites)
    confidence_weights = confidence.tensors() if confidence else None
    if confidence:
        meta["confidence_sites"] = {**confidence.metadata(), "recipe": _confidence_recipe(config).to_dict(),
                                    "problems": len({s.problem_id for s in corpus.executed})}
    meta["confidence_labels"] = {"source": "HumanEval executed tests", "samples": len(corpus.executed_labels),
                                 "passed": int(corpus.executed_labels.sum())}
    best = write_inference_checkpoint(out / "best.safetensors", model.cpu(), corpus, meta, site_weights,
                                      confidence_weights)
    log(f"best checkpoint: {best} ({json.dumps(meta['thresholds'])})")
    if plot_training_curves(out / "metrics.jsonl", out / "curves.png"):
        log(f"training curves: {out / 'curves.png'}")
    if config.ship:
        shipped = write_inference_checkpoint(SHIPPED_CHECKPOINT, model, corpus, meta, site_weights,
                                             confidence_weights)
        log(f"shipped checkpoint: {shipped}")
    return best


def fit_bug_sites(model: GraphSAGEModel, corpus: Corpus, config: TrainConfig, log: Callable[[str], None]
                  ) -> SiteFit | None:
    """The bug-site scorer (training/sites.py), its combiner with this network's bugs head and the report
    threshold; None when turned off or when validation lacks clean or buggy code to fit them on."""
    train, validation = corpus.bug_samples.get("train", []), corpus.bug_samples.get("validation", [])
    train = train + corpus.training_mutants if train else train
    if config.site_epochs <= 0 or not train or len({s.buggy for s in validation}) < 2:
        return None
    engine = GraphSAGEEngine(model.config, model.numpy_weights())
    head = np.full(len(validation), 0.5)
    built = [i for i, s in enumerate(validation) if corpus.table.has(s.source)]
    for start in range(0, len(built), config.batch_size):
        chunk = built[start: start + config.batch_size]
        batch = corpus.table.batch([corpus.table.position(validation[i].source) for i in chunk])
        head[chunk] = engine.forward(batch, embedding=False).bug_probs.max(axis=1)
    # None: the sites told nothing on validation
    return fit_site_model(train, validation, head, false_alarm_rate=config.bug_false_alarm_rate, seed=config.seed,
                          epochs=config.site_epochs, hidden_width=config.site_hidden,
                          hidden_epochs=config.site_hidden_epochs, log=log)


def _confidence_recipe(config: TrainConfig) -> ScorerRecipe:
    return ScorerRecipe(mutants_per_kind=config.confidence_mutants_per_kind, epochs=config.confidence_site_epochs,
                        seed=config.seed)


def fit_confidence_sites(corpus: Corpus, config: TrainConfig, log: Callable[[str], None],
                         bug_sites: SiteModel | None = None) -> ConfidenceScorer | None:
    """The confidence scorer (training/confidence_sites.py) on the mutants of the executed samples'
    problems, its combiner reading `bug_sites` too; None when turned off or when the executed samples
    cannot support a fit."""
    if config.confidence_site_epochs <= 0 or not corpus.executed:
        return None
    recipe = _confidence_recipe(config)
    used = {s.problem_id for s in corpus.executed}
    sites = mutant_sites([p for p in humaneval_problems(config.data_config()) if p.task_id in used], recipe)
    scorer = fit_confidence_scorer(corpus.executed, sites, recipe, bug_sites=bug_sites)
    if scorer is None:
        log("confidence scorer: not fitted (the executed samples need two problems and both labels)")
    else:
        log(f"confidence scorer: {int(np.count_nonzero(scorer.sites.weight))} weights from the mutants of "
            f"{len(sites)} problems; combiner {[round(w, 4) for w in scorer.weights]}, {scorer.bias:.4f}")
    return scorer


@torch.no_grad()
def bug_threshold(model: GraphSAGEModel, corpus: Corpus, config: TrainConfig) -> float:
    """The score above which a bug kind is reported: at most `bug_false_alarm_rate` of clean validation
    code gets any report. Most code an editor checks is fine, so false alarms cost more than misses."""
    model.eval()
    device = next(model.parameters()).device
    clean_scores = []
    for step in validation_batches(corpus.validation, config.batch_size):
        if not len(step.bugs):
            continue
        out, _ = forward_step(model, corpus.table, step, device)
        clean_scores.append(_strongest_bug_scores(out, step)[step.bug_labels.max(axis=1) == 0])
    return false_alarm_threshold(np.concatenate(clean_scores) if clean_scores else np.zeros(0),
                                 config.bug_false_alarm_rate)


@torch.no_grad()
def fit_import_index(model: GraphSAGEModel, corpus: Corpus, config: TrainConfig,
                     log: Callable[[str], None] = print) -> tuple[ImportIndex, float]:
    """The name index from training code, and the weights combining it with the head.

    Fitted in two stages, since validation is small (460 import samples, 37 rows with project
    evidence here) and the head has learned the training split. First the evidence weights (the
    table, the project, `named`, the vocabulary) on the training split's samples, each ranked with
    tables from the other half of the packages and without its own modules in the vocabulary
    (`training.import_folds`): thousands of rows of each kind. Then, on validation, the head's
    weight and how far to trust that evidence score (`_stacked`). Labels are every module a sample
    really uses, in the head's vocabulary or not, so the combiner learns when the name table alone
    should win. Each sample counts twice, without and with its package's project index, since a
    host may or may not say where the code lives. Returns the index and the score threshold with the
    best F1 on validation for the combined scores.
    """
    index = ImportIndex.from_bindings(corpus.import_bindings)
    task = corpus.validation["imports"]
    if not len(task.positions) or task.sources is None or task.modules is None:
        return index, 0.5
    x, y = _validation_import_rows(model, corpus, config, index)
    evidence = _evidence_weights(corpus, config, log)
    weights = _stacked(x, y, evidence) if evidence is not None else _fitted(x, y)
    z = x @ np.asarray(weights[:-1]) + weights[-1]
    return ImportIndex(index.names, weights), best_f1_threshold(y, logistic(z))


def _validation_import_rows(model: GraphSAGEModel, corpus: Corpus, config: TrainConfig, index: ImportIndex
                            ) -> tuple[np.ndarray, np.ndarray]:
    """The combiner's inputs and labels for every candidate module of every validation sample, each
    sample without and with its project, as `ImportRanker.rank` sees them."""
    task = corpus.validation["imports"]
    model.eval()
    device = next(model.parameters()).device
    probs = []
    for start in range(0, len(task.positions), config.batch_size):
        batch = corpus.table.batch(task.positions[start: start + config.batch_size])
        probs.append(torch.sigmoid(model(*_to(batch_tensors(batch), device)).import_logits).cpu().numpy())
    rows, labels = [], []
    submodules = training_part(corpus.import_submodules, config.seed)  # as yantra-eval ranks
    ranker = ImportRanker(corpus.vocabulary, index, corpus.import_aliases, submodules)
    projects = task.projects or [None] * len(task.sources)
    for source, p, wanted, project in zip(task.sources, np.concatenate(probs), task.modules, projects, strict=True):
        graph = build_graph(source, sites=False)
        for context in (None, project) if project is not None else (None,):
            modules, features = ranker.features(p, graph.free_names, context, attribute_reads=graph.attribute_reads)
            rows.append(features)
            labels.append(np.array([m in wanted for m in modules], dtype=np.float64))
    return np.concatenate(rows), np.concatenate(labels)


def _evidence_weights(corpus: Corpus, config: TrainConfig, log: Callable[[str], None]) -> tuple[float, ...] | None:
    """The evidence weights fitted on the training split's folds; None when they hold no positive row."""
    folded = folded_samples(config.data_config(), corpus.training_imports, corpus.import_lines)
    inputs, labels, counts = evidence_rows(folded, corpus.vocabulary)
    if not (labels * counts).sum():
        return None
    weights = fit_evidence_weights(inputs, labels, counts)
    log(f"import evidence weights {[round(w, 3) for w in weights[1:]]} from {len(folded.samples)} "
        f"training-split samples ({int(counts.sum())} rows)")
    return weights


def _stacked(x: np.ndarray, y: np.ndarray, evidence: tuple[float, ...]) -> tuple[float, ...]:
    """Combiner weights: on validation, a logistic fit of the head's logit and the evidence score that
    `evidence` gives, folded back into one weight per input."""
    score = x[:, 1:] @ np.asarray(evidence[1:-1]) + evidence[-1]
    (head, scale), bias = fit_logistic(np.column_stack([x[:, 0], score]), y, l2=1.0)
    return (float(head), *(float(scale) * w for w in evidence[1:-1]), float(scale) * evidence[-1] + bias)


def _fitted(x: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    """Combiner weights fitted on validation alone (when the training split offers no evidence rows)."""
    weight, bias = fit_logistic(x, y, l2=1.0)
    return (*(float(w) for w in weight), float(bias))


def best_f1_threshold(truth: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the best F1 (ties: the higher threshold), from candidate quantiles."""
    if truth.sum() == 0:
        return 0.5
    best_threshold, best_f1 = 0.5, -1.0
    for threshold in np.unique(np.quantile(scores, np.linspace(0.5, 0.999, 200))):
        predicted = scores >= threshold
        tp = float((predicted & (truth > 0)).sum())
        precision = tp / max(predicted.sum(), 1)
        recall = tp / truth.sum()
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        if f1 >= best_f1:
            best_threshold, best_f1 = float(threshold), f1
    return metadata_threshold(best_threshold, up=False)  # what scored >= it still does


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's preemption stops it as Ctrl-C does
    state = Path(config.out_dir) / "state.pt"
    found = _written(state)  # another run's, which --overwrite replaces: no state to go on from
    try:
        path = train(config, log=lambda message: print(message, file=sys.stderr, flush=True))
    except RunError as exc:
        print(f"yantra-train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # files are written atomically: what is there is whole, and a temporary is gone
        resumed = config.resume is not None and Path(config.resume).resolve() == state.resolve()
        hint = f"; go on with --resume {state}" if _written(state) not in (None, found) or resumed else ""
        print(f"yantra-train: interrupted{hint}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(path)
    return 0


def _written(path: Path) -> int | None:
    """When `path` was last written (ns), or None when there is none."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
