"""Compare the import combiner's name and project evidence with the IDE-style dictionary on the
training packages: ten thousand samples where validation holds a few hundred.

`yantra-eval` compares the two on the test split, but that split is small and lopsided here (its
own-module rows rest mostly on two packages). The training split is larger and holds every kind of
import; `training.import_folds` ranks each of its halves (by package) with a name table and a
dictionary built from the other half's files alone, its packages indexed as their projects and
their own modules out of the vocabulary, the network's head left out. What is compared is the
evidence the two share, the names the code needs, weighed by the combiner or summed by the
dictionary. The combiner's weights are the checkpoint's (`--weights checkpoint`, the default;
`yantra-train` fits its evidence weights on these same rows, so this reading is not held out), or
fitted on the other half's rows (`--weights refit`: never on the half they rank). Prints
recall@1 / @5 and how often the first suggestion is needed, per category, as `yantra-eval` does;
writes nothing.

    python -m training.import_probe                    # the shipped checkpoint's combiner
    python -m training.import_probe --weights refit    # weights refitted out of fold
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from model.checkpoint import load_checkpoint
from model.imports import ImportIndex
from model.predictor import SHIPPED_CHECKPOINT
from training.datasets import corpus_units, import_samples
from training.evaluate import RECALL_KS, import_label_sets, import_recalls
from training.import_folds import FOLDS, evidence_rows, fit_evidence_weights, fold_rankings, folded_samples
from training.train import TrainConfig, parse_config

__all__ = ["main", "probe", "summary"]


def probe(config: TrainConfig, checkpoint: str, refit: bool = False, log: Callable[[str], None] = print) -> dict:
    """Recall of the combiner (head left out) and of the dictionary on the training split, each fold
    ranked with tables from the other folds, and with weights fitted on them where `refit`; as
    `evaluate_imports` returns it ("with_project": each sample's package indexed as its project)."""
    loaded = load_checkpoint(checkpoint, expected_layout_version=None)
    vocabulary = loaded.vocabularies["imports"]
    shipped = (0.0, *ImportIndex.from_json(loaded.training.get("import_index")).weights[1:])
    data = config.data_config()
    folded = folded_samples(data, import_samples(data, corpus_units(data)))
    samples = folded.samples
    log(f"{len(samples)} training-split import samples of {len({s.group for s in samples})} packages")
    weights = {fold: fit_evidence_weights(*evidence_rows(folded, vocabulary, [f for f in range(FOLDS) if f != fold]))
               if refit else shipped for fold in range(FOLDS)}
    truth = import_label_sets(samples)
    results: dict = {"n_train": len(samples), "folds": FOLDS,
                     "combiner": {str(fold): list(w) for fold, w in weights.items()}}
    for key, project in (("without_project", False), ("with_project", True)):
        model_ranked: list[list[str]] = [[] for _ in samples]
        baseline_ranked: list[list[str]] = [[] for _ in samples]
        for fold in range(FOLDS):
            for row, ranker, no_head, tables in fold_rankings(folded, fold, vocabulary, weights[fold]):
                graph, context = folded.graphs[row], folded.contexts[row] if project else None
                model_ranked[row] = [m for m, _ in ranker.rank(no_head, graph.free_names, graph.imported,
                                                               max(RECALL_KS), context,
                                                               attribute_reads=graph.attribute_reads,
                                                               star_import=graph.star_import)]
                baseline_ranked[row] = tables.dictionary.rank_names(graph.free_names, exclude=graph.imported,
                                                                    k=max(RECALL_KS), project=context)
        results[key] = import_recalls(truth, model_ranked, baseline_ranked)
    return results


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
    parser.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT),
                        help="whose vocabulary (and, with --weights checkpoint, combiner) to measure")
    parser.add_argument("--weights", choices=("checkpoint", "refit"), default="checkpoint",
                        help="the combiner's weights: the checkpoint's (default) or fitted on the other half")
    known, rest = parser.parse_known_args(argv)
    config = parse_config(rest)  # the data flags, as yantra-train takes them
    started = time.perf_counter()
    results = probe(config, known.checkpoint, refit=known.weights == "refit")
    print(f"combiner (head left out; weights: {known.weights}) / dictionary, training split, "
          "name tables from the other half's packages")
    for fold, weights in results["combiner"].items():
        print(f"  fold {fold} combiner {[round(w, 3) for w in weights]}")
    print(summary(results))
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
