"""The import probe: each half of the training packages ranked with tables from the other half."""

from tests.helpers import write_checkpoint
from training import import_probe
from training.datasets import ImportSample
from training.import_probe import _fitted_without, fold_of, probe, summary
from training.train import TrainConfig


def _sample(group: str, statement: str, module: str) -> ImportSample:
    return ImportSample(source="x = 1\n", modules=(module,), statements=(statement,), split="train", group=group)


def test_a_folds_table_and_dictionary_come_from_the_other_folds_samples_alone():
    samples = [_sample("alpha", "from json import loads as only_alpha", "json"),
               _sample("beta", "from csv import reader as only_beta", "csv")]
    folds = [0, 1]
    ranker, baseline = _fitted_without(samples, folds, 0, ["os"], (0.0, 30.0, 5.0, 4.0, 2.0, 7.0, -10.0))
    assert "only_beta" in ranker.index.names and "only_alpha" not in ranker.index.names
    assert "only_beta" in baseline.by_name and "only_alpha" not in baseline.by_name
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
