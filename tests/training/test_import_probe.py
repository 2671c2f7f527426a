"""The import probe: each half of the training packages ranked with tables from the other half."""

from tests.helpers import write_checkpoint
from training import import_probe
from training.datasets import ImportSample
from training.import_probe import _fitted_without, fold_of, probe, summary
from training.train import TrainConfig


def _sample(group: str, statement: str, module: str) -> ImportSample:
    return ImportSample(source="x = 1\n", modules=(module,), statements=(statement,), split="train", group=group)


def test_a_folds_table_and_dictionary_come_from_the_other_folds_files_alone():
    alpha, beta = sorted(("alpha", "beta"), key=fold_of)  # one package in each fold
    assert (fold_of(alpha), fold_of(beta)) == (0, 1)
    samples = [_sample(alpha, "from json import loads as only_alpha", "json"),
               _sample(beta, "from csv import reader as only_beta", "csv")]
    also_beta = next(p for p in ("gamma", "delta", "epsilon", "zeta", "eta") if fold_of(p) == fold_of(beta))
    lines = [(alpha, "from json import loads as only_alpha"), (beta, "from csv import reader as only_beta"),
             (beta, "from csv import writer as beta_file"), (also_beta, "from csv import writer as beta_file"),
             (beta, "from csv import excel as once")]  # lines no sample needs: in two packages, and in one
    ranker, baseline = _fitted_without(samples, [0, 1], 0, ["os"], (0.0, 30.0, 5.0, 4.0, 2.0, 7.0, -10.0), lines)
    assert {"only_beta", "beta_file"} <= ranker.index.names.keys()
    assert not {"only_alpha", "once"} & ranker.index.names.keys()
    assert {"only_beta", "beta_file"} <= baseline.by_name.keys() and "only_alpha" not in baseline.by_name
    assert baseline.prior == {"csv": 1}
    assert ranker.index.weights[0] == 0.0


def test_a_package_falls_in_the_same_fold_on_every_run():
    assert fold_of("email") == fold_of("email") and {fold_of(p) for p in ("email", "json", "os", "re", "csv")} == {0, 1}


def test_the_probe_ranks_every_training_sample_on_a_smoke_corpus(tmp_path):
    checkpoint = write_checkpoint(tmp_path / "c.safetensors", ["os", "sys", "re"], hidden_dims=(8, 8),
                                  embedding_dim=8)
    config = TrainConfig(smoke=True, cache_dir=str(tmp_path / "cache"), progress=False)
    results = probe(config, str(checkpoint), log=lambda *_: None)
    assert results["n_train"] > 0 and results["combiner"][0] == 0.0  # the head left out
    for project in ("without_project", "with_project"):
        everything = results[project]["all"]
        assert everything["n"] > 0
        assert all(0.0 <= everything[f"recall@{k}"][who] <= 1.0 for k in (1, 5) for who in ("model", "baseline"))
        assert f"{project:<15} all" in summary(results)


def test_the_public_names_are_pinned():
    assert sorted(import_probe.__all__) == ["fold_of", "main", "probe", "summary"]
