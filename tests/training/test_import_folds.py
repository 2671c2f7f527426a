"""The training split in folds by package: each fold's name evidence from the other folds alone, the
combiner's evidence weights fitted on it, and the probe that compares the combiner with the dictionary."""

import numpy as np

from model.graph import build_graph
from model.imports import FEATURE_NAMES, ImportIndex, ImportRanker
from tests.helpers import write_checkpoint
from training import import_folds, import_probe
from training.datasets import ImportSample
from training.import_folds import (
    FoldedSamples,
    evidence_rows,
    fit_evidence_weights,
    fold_of,
    fold_rankings,
    fold_tables,
)
from training.import_probe import probe, summary
from training.logistic import fit_logistic
from training.train import TrainConfig


def _sample(group: str, statement: str, module: str, source: str = "x = 1\n") -> ImportSample:
    return ImportSample(source=source, modules=(module,), statements=(statement,), split="train", group=group)


def _folded(samples: list[ImportSample], lines: list[tuple[str, str]]) -> FoldedSamples:
    used = [(s.group, statement) for s in samples for statement in s.statements]  # as the units' labels say
    return FoldedSamples(samples, [build_graph(s.source, sites=False) for s in samples], [None] * len(samples),
                         [fold_of(s.group) for s in samples], lines, used)


def _two_packages() -> tuple[str, str]:
    alpha, beta = sorted(("alpha", "beta"), key=fold_of)  # one package in each fold
    assert (fold_of(alpha), fold_of(beta)) == (0, 1)
    return alpha, beta


def test_a_folds_table_and_dictionary_come_from_the_other_folds_files_alone():
    alpha, beta = _two_packages()
    samples = [_sample(alpha, "from json import loads as only_alpha", "json"),
               _sample(beta, "from csv import reader as only_beta", "csv")]
    also_beta = next(p for p in ("gamma", "delta", "epsilon", "zeta", "eta") if fold_of(p) == fold_of(beta))
    lines = [(alpha, "from json import loads as only_alpha"), (beta, "from csv import reader as only_beta"),
             (beta, "from csv import writer as beta_file"), (also_beta, "from csv import writer as beta_file"),
             (beta, "from csv import excel as once")]  # lines no sample needs: in two packages, and in one
    weights = (0.0, 30.0, 5.0, 4.0, 2.0, 7.0, 1.0, -10.0)
    tables = fold_tables(_folded(samples, lines), 0, weights)
    assert {"only_beta", "beta_file"} <= tables.index.names.keys()
    assert not {"only_alpha", "once"} & tables.index.names.keys()
    dictionary = tables.dictionary
    assert {"only_beta", "beta_file"} <= dictionary.by_name.keys() and "only_alpha" not in dictionary.by_name
    assert tables.dictionary.prior == {"csv": 1}
    assert tables.index.weights == weights


def test_a_samples_own_package_is_out_of_the_vocabulary_it_is_ranked_with():
    # the vocabulary came from the training packages, this one among them; a user's project is not in it
    alpha, beta = _two_packages()
    samples = [_sample(alpha, "import os", "os"), _sample(beta, "import os", "os")]
    vocabulary = ["os", alpha, f"{alpha}.core", beta]
    rankers = {row: ranker for row, ranker, _, _ in fold_rankings(_folded(samples, []), 0, vocabulary,
                                                                  ImportIndex().weights)}
    assert list(rankers) == [0] and rankers[0].vocabulary == ["os", beta]


def test_a_package_falls_in_the_same_fold_on_every_run():
    assert fold_of("email") == fold_of("email") and {fold_of(p) for p in ("email", "json", "os", "re", "csv")} == {0, 1}


def test_evidence_rows_read_each_sample_with_the_other_folds_table_and_collapse_what_repeats():
    alpha, beta = _two_packages()
    also_beta = next(p for p in ("gamma", "delta", "epsilon", "zeta", "eta") if fold_of(p) == fold_of(beta))
    samples = [_sample(alpha, "from csv import reader", "csv", "rows = reader(f)\n"),
               _sample(beta, "from json import loads", "json", "data = loads(s)\n")]
    lines = [(beta, "from csv import reader"), (also_beta, "from csv import reader"),  # for alpha's fold
             (alpha, "from json import loads")]  # one package, no sample of alpha's fold: not in beta's table
    inputs, labels, counts = evidence_rows(_folded(samples, lines), ["os", "sys", "re"])
    assert inputs.shape[1] == len(FEATURE_NAMES) and (inputs[:, 0] == 0).all()  # no head
    spoken = inputs[:, 3] == 1
    assert spoken.sum() == 1 and labels[spoken].tolist() == [1.0] and inputs[spoken, 2].tolist() == [1.0]
    assert counts.sum() == 3 + 1 + 3 and len(inputs) == 2  # the vocabulary's bare rows collapse into one
    assert labels[~spoken].tolist() == [0.0]  # beta's json: nothing spoke for it, so no row holds it


def test_evidence_weights_reward_the_table_and_leave_the_head_to_the_caller():
    rng = np.random.default_rng(0)
    share = rng.uniform(size=400) * (rng.uniform(size=400) < 0.5)
    inputs = np.zeros((400, len(FEATURE_NAMES)))
    inputs[:, 1], inputs[:, 2], inputs[:, 3] = 1.0, share, share > 0
    labels = (rng.uniform(size=400) < 0.05 + 0.9 * share).astype(float)
    weights = fit_evidence_weights(inputs, labels, np.ones(400))
    assert len(weights) == len(FEATURE_NAMES) + 1 and weights[0] == 0.0
    assert weights[2] + weights[3] > 1.0
    ImportIndex({}, weights)  # a checkpoint can carry them


def test_counted_rows_fit_as_the_rows_they_stand_for():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, size=(300, 2)).astype(float)
    y = (rng.uniform(size=300) < 0.2 + 0.2 * x[:, 0]).astype(float)
    unique, counts = np.unique(np.hstack([x, y[:, None]]), axis=0, return_counts=True)
    expanded = fit_logistic(x, y, l2=1.0)
    collapsed = fit_logistic(unique[:, :2], unique[:, 2], l2=1.0, counts=counts)
    assert np.allclose(expanded[0], collapsed[0], atol=1e-5) and abs(expanded[1] - collapsed[1]) < 1e-5


def test_the_probe_ranks_every_training_sample_on_a_smoke_corpus(tmp_path):
    checkpoint = write_checkpoint(tmp_path / "c.safetensors", ["os", "sys", "re"], hidden_dims=(8, 8),
                                  embedding_dim=8)
    config = TrainConfig(smoke=True, cache_dir=str(tmp_path / "cache"), progress=False)
    for refit in (True, False):
        results = probe(config, str(checkpoint), refit=refit, log=lambda *_: None)
        assert results["n_train"] > 0 and all(w[0] == 0.0 for w in results["combiner"].values())  # no head
        assert (results["combiner"]["0"] != results["combiner"]["1"]) == refit  # refitted on each other half
        for project in ("without_project", "with_project"):
            everything = results[project]["all"]
            assert everything["n"] > 0
            assert all(0.0 <= everything[f"recall@{k}"][who] <= 1.0 for k in (1, 5) for who in ("model", "baseline"))
            assert f"{project:<15} all" in summary(results)


def test_the_public_names_are_pinned():
    assert sorted(import_probe.__all__) == ["main", "probe", "summary"]
    assert sorted(import_folds.__all__) == ["FOLDS", "FoldTables", "FoldedSamples", "evidence_rows",
                                            "fit_evidence_weights", "fold_of", "fold_rankings", "fold_tables",
                                            "folded_samples"]
    assert isinstance(fold_tables(_folded([], []), 0, ImportIndex().weights).ranker(["os"], "x"), ImportRanker)
