"""Compare the import combiner's name and project evidence with the IDE-style dictionary on the
training packages: ten thousand samples where validation holds a few hundred.

`yantra-eval` compares the two on the test split, and `yantra-train` fits the combiner on the
validation split, but those splits are small and lopsided here (validation: 460 import samples, 29
of them needing one of their package's own modules; the test split's own-module rows rest mostly on
two packages), so a change to the ranking can hardly be chosen on them. The training split is
larger and holds every kind of import. It cannot be used as it is: the network's import head learned
these samples, and the name table holds their own import lines. So the training packages are
split in halves by package, and each half is ranked with a name table and a dictionary built from
the import lines of the other half's files (as `training.name_table` builds the shipped table),
its packages indexed as their projects as the daemon would index them.
The network's head is left out (its weight set to 0): what is compared is the evidence the two
share, the names the code needs, weighed by the checkpoint's combiner or summed by the dictionary.
Prints recall@1 / @5 and how often the first suggestion is needed, per category, as `yantra-eval`
does; writes nothing.

    python -m training.import_probe            # the shipped checkpoint's combiner
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from model.checkpoint import load_checkpoint
from model.graph import build_graph
from model.imports import ImportIndex, ImportRanker
from model.predictor import SHIPPED_CHECKPOINT
from training.baselines import ImportDictionaryBaseline, statement_bindings
from training.datasets import ImportSample, corpus_units, import_samples
from training.evaluate import RECALL_KS, import_label_sets, import_recalls
from training.imports import statement_tables
from training.name_table import package_import_lines, table_lines
from training.projects import package_projects, sample_contexts
from training.train import TrainConfig, parse_config

__all__ = ["fold_of", "main", "probe", "summary"]

FOLDS = 2


def fold_of(package: str, folds: int = FOLDS) -> int:
    """The half (or fold) a package falls in: a CRC32 of its name, the same on every machine."""
    return zlib.crc32(package.encode()) % folds


def probe(config: TrainConfig, checkpoint: str, log: Callable[[str], None] = print) -> dict:
    """Recall of the combiner (head left out) and of the dictionary on the training split, each fold
    ranked with tables from the other folds; as `evaluate_imports` returns it ("with_project": each
    sample's package indexed as its project)."""
    loaded = load_checkpoint(checkpoint, expected_layout_version=None)
    vocabulary = loaded.vocabularies["imports"]
    weights = (0.0, *ImportIndex.from_json(loaded.training.get("import_index")).weights[1:])
    data = config.data_config()
    samples = [s for s in import_samples(data, corpus_units(data)) if s.split == "train"]
    lines = package_import_lines(data)
    contexts = sample_contexts(samples, package_projects(data, {s.group for s in samples}))
    log(f"{len(samples)} training-split import samples of {len({s.group for s in samples})} packages")
    graphs = [build_graph(s.source, sites=False) for s in samples]
    folds = [fold_of(s.group) for s in samples]
    no_head = np.full(len(vocabulary), 0.5)  # a logit of 0: the weight on it is 0 anyway
    truth = import_label_sets(samples)
    results: dict = {"n_train": len(samples), "folds": FOLDS, "combiner": list(weights)}
    for key, project in (("without_project", False), ("with_project", True)):
        model_ranked: list[list[str]] = [[] for _ in samples]
        baseline_ranked: list[list[str]] = [[] for _ in samples]
        for fold in range(FOLDS):
            ranker, baseline = _fitted_without(samples, folds, fold, vocabulary, weights, lines)
            for row in (i for i, f in enumerate(folds) if f == fold):
                graph, context = graphs[row], contexts[row] if project else None
                model_ranked[row] = [m for m, _ in ranker.rank(no_head, graph.free_names, graph.imported,
                                                               max(RECALL_KS), context,
                                                               attribute_reads=graph.attribute_reads,
                                                               star_import=graph.star_import)]
                baseline_ranked[row] = baseline.rank_names(graph.free_names, exclude=graph.imported,
                                                           k=max(RECALL_KS), project=context)
        results[key] = import_recalls(truth, model_ranked, baseline_ranked)
    return results


def _fitted_without(samples: Sequence[ImportSample], folds: Sequence[int], fold: int, vocabulary: Sequence[str],
                    weights: tuple[float, ...], lines: Sequence[tuple[str, str]]
                    ) -> tuple[ImportRanker, ImportDictionaryBaseline]:
    """The ranker and the dictionary for one fold, from the other folds' samples and the import lines
    of their packages' files (`training.name_table`) alone."""
    others = [s for s, f in zip(samples, folds, strict=True) if f != fold]
    other_lines = table_lines(((package, line) for package, line in lines if fold_of(package) != fold),
                              {statement for s in others for statement in s.statements})
    index = ImportIndex.from_bindings((pair for line in other_lines for pair in statement_bindings(line)), weights)
    aliases, _ = statement_tables(other_lines)
    return ImportRanker(vocabulary, index, aliases), ImportDictionaryBaseline().fit(others, other_lines)


def summary(results: dict) -> str:
    """A line per setting and category: n, then combiner / dictionary for each figure."""
    lines = []
    for key in ("without_project", "with_project"):
        for category, entry in results[key].items():
            if not entry["n"]:
                continue
            figures = [f"R@{k} {entry[f'recall@{k}']['model']:.3f} / {entry[f'recall@{k}']['baseline']:.3f}"
                       for k in RECALL_KS]
            first = entry["first_is_needed"]
            figures.append(f"first needed {first['model']:.3f} / {first['baseline']:.3f}")
            lines.append(f"{key:<15} {category:<11} {entry['n']:>6}  " + "  ".join(figures))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.import_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT), help="whose combiner to measure")
    known, rest = parser.parse_known_args(argv)
    config = parse_config(rest)  # the data flags, as yantra-train takes them
    started = time.perf_counter()
    results = probe(config, known.checkpoint)
    print("combiner (head left out) / dictionary, training split, name tables from the other half's packages")
    print(summary(results))
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
