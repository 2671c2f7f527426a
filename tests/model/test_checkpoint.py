"""The checkpoint format: a round trip that changes nothing, a clear error for each way a file can be
wrong, and saves that a crash cannot tear."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save as encode_tensors

from model.batch import collate
from model.checkpoint import FORMAT_NAME, METADATA_KEY, Checkpoint, load_checkpoint, save_checkpoint
from model.config import MAX_LAYERS, MAX_WIDTH, ModelConfig
from model.engine import GraphSAGEEngine, init_weights
from model.errors import CheckpointError

CONFIG = ModelConfig(feature_dim=10, hidden_dims=(12, 8), embedding_dim=4, num_imports=3, num_bug_kinds=2)
VOCABULARIES = {"imports": ["os", "re", "numpy"], "bug_kinds": ["off_by_one", "wrong_operator"]}
LAYOUT = "yantra-978-v2"
TRAINING = {"data": "corpus-v3", "metrics": {"auroc": 0.81}, "when": "2025-01-01T00:00:00Z", "commit": "abc123"}


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    values = init_weights(CONFIG, seed=seed)
    values["feature_mean"] = np.linspace(-1, 1, CONFIG.feature_dim, dtype=np.float32)
    values["confidence_shift"] = np.array([0.25], dtype=np.float32)
    return values


def save(path: Path, **changes) -> Path:
    arguments = {
        "weights": weights(),
        "config": CONFIG,
        "vocabularies": VOCABULARIES,
        "feature_layout_version": LAYOUT,
        "training": TRAINING,
    }
    arguments.update(changes)
    return save_checkpoint(path, **arguments)


def write_raw(path: Path, tensors: dict[str, np.ndarray], metadata: dict | None) -> Path:
    """A safetensors file written around the format's checks, to corrupt one thing at a time."""
    header = None if metadata is None else {METADATA_KEY: json.dumps(metadata)}
    path.write_bytes(encode_tensors(tensors, metadata=header))
    return path


def valid_metadata(**changes) -> dict:
    metadata = {
        "format": FORMAT_NAME,
        "format_version": 1,
        "config": CONFIG.to_dict(),
        "vocabularies": VOCABULARIES,
        "feature_layout_version": LAYOUT,
        "training": TRAINING,
    }
    metadata.update(changes)
    return metadata


def load(path: Path) -> Checkpoint:
    return load_checkpoint(path, expected_layout_version=LAYOUT)


def test_a_round_trip_gives_identical_engine_outputs(tmp_path):
    path = save(tmp_path / "best.safetensors")
    checkpoint = load(path)
    rng = np.random.default_rng(0)
    batch = collate([(rng.normal(size=(n, 10)).astype(np.float32), np.array([[0], [n - 1]])) for n in (1, 3)])
    before = GraphSAGEEngine(CONFIG, weights()).forward(batch)
    after = GraphSAGEEngine(checkpoint.config, checkpoint.weights).forward(batch)
    for name in before.__slots__:
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name), err_msg=name)


def test_a_round_trip_keeps_config_vocabularies_layout_and_training_metadata(tmp_path):
    checkpoint = load(save(tmp_path / "best.safetensors"))
    assert checkpoint.config == CONFIG
    assert checkpoint.vocabularies == VOCABULARIES
    assert checkpoint.feature_layout_version == LAYOUT
    assert checkpoint.training == TRAINING
    assert checkpoint.path == tmp_path / "best.safetensors"
    assert all(np.array_equal(checkpoint.weights[name], value) for name, value in weights().items())


def test_a_loaded_checkpoint_knows_the_digest_of_the_bytes_it_was_read_from(tmp_path):
    path = save(tmp_path / "best.safetensors")
    first = load(path).digest
    assert first == hashlib.sha256(path.read_bytes()).hexdigest()
    save(path, weights=weights(seed=1))  # the same path, other bytes
    assert load(path).digest not in ("", first)


def test_a_checkpoint_is_one_safetensors_file_with_one_metadata_key(tmp_path):
    path = save(tmp_path / "best.safetensors")
    assert [entry.name for entry in tmp_path.iterdir()] == ["best.safetensors"]
    header_size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_size])
    assert list(header["__metadata__"]) == [METADATA_KEY]


def test_the_layout_check_can_be_skipped_by_tools_that_only_inspect(tmp_path):
    path = save(tmp_path / "best.safetensors", feature_layout_version="yantra-978-v0")
    assert load_checkpoint(path, expected_layout_version=None).feature_layout_version == "yantra-978-v0"


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no such file") as caught:
        load(tmp_path / "absent.safetensors")
    assert caught.value.path == str(tmp_path / "absent.safetensors")


def test_a_named_pipe_a_directory_and_a_nul_in_the_path_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)  # reading it would block until a writer came
    with pytest.raises(CheckpointError, match="not a regular file"):
        load(fifo)
    with pytest.raises(CheckpointError, match="is a directory"):
        load(tmp_path)
    with pytest.raises(CheckpointError, match="not a usable path"):
        load(str(tmp_path / "a\x00b"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "too short for a header"),
        (b"hello, world, not a checkpoint", "not a safetensors file: header length"),
        ((12).to_bytes(8, "little") + b"{not json!!}", "not a safetensors file: corrupt header"),
        ((4).to_bytes(8, "little") + b"[1] ", "the header is not a JSON object"),
    ],
    ids=["empty", "text", "corrupt header", "header not an object"],
)
def test_a_file_that_is_not_safetensors_says_so(tmp_path, content: bytes, message: str):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_a_pickle_is_refused_without_being_unpickled(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load(path)
    assert not marker.exists()


def test_a_plain_safetensors_file_without_our_metadata_is_not_a_yantra_checkpoint(tmp_path):
    path = write_raw(tmp_path / "plain.safetensors", weights(), metadata=None)
    with pytest.raises(CheckpointError, match='not a yantra checkpoint: no "yantra" metadata'):
        load(path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "someone-else/model"}, "wrong format 'someone-else/model': expected 'yantra-bridge/graphsage'"),
        ({"format_version": 99}, "format version 99 but this code reads version 1"),
        ({"feature_layout_version": "yantra-978-v0"}, "layout version 'yantra-978-v0' but this code expects"),
        ({"config": {**CONFIG.to_dict(), "depth": 3}}, r"invalid model config: unknown model config keys \['depth'\]"),
        (
            {"vocabularies": {"imports": ["os"], "bug_kinds": ["a", "b"]}},
            '"imports" has 1 entries, config num_imports is 3',
        ),
        ({"vocabularies": {"imports": ["os", "re", "numpy"]}}, 'missing vocabulary "bug_kinds"'),
        ({"vocabularies": {"imports": ["os", "os", "re"], "bug_kinds": ["a", "b"]}}, "duplicate entries"),
        ({"training": None}, "no training object"),
    ],
    ids=["format name", "format version", "layout", "config", "vocabulary size", "vocabulary missing",
         "duplicates", "training"],
)
def test_each_metadata_problem_is_named(tmp_path, changes: dict, message: str):
    path = write_raw(tmp_path / "bad.safetensors", weights(), valid_metadata(**changes))
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_missing_unexpected_and_wrongly_shaped_weights_are_each_named(tmp_path):
    tensors = weights()
    del tensors["bug_head.weight"]
    tensors["layers.5.weight_root"] = np.zeros((2, 2), dtype=np.float32)
    tensors["layers.1.bias"] = np.zeros(9, dtype=np.float32)
    path = write_raw(tmp_path / "bad.safetensors", tensors, valid_metadata())
    with pytest.raises(CheckpointError) as caught:
        load(path)
    message = str(caught.value)
    assert 'missing weight "bug_head.weight"' in message
    assert 'unexpected weight "layers.5.weight_root"' in message
    assert 'weight "layers.1.bias": expected shape (8,), got (9,)' in message


def test_non_finite_weights_are_refused_by_name(tmp_path):
    tensors = weights()
    tensors["embedding_head.weight"][0, 0] = np.inf
    path = write_raw(tmp_path / "bad.safetensors", tensors, valid_metadata())
    with pytest.raises(CheckpointError, match=r'"embedding_head\.weight" has non-finite values'):
        load(path)


def test_weights_of_another_dtype_are_refused_by_name(tmp_path):
    tensors = weights()
    tensors["feature_std"] = tensors["feature_std"].astype(np.float64)
    path = write_raw(tmp_path / "bad.safetensors", tensors, valid_metadata())
    with pytest.raises(CheckpointError, match='"feature_std": expected dtype float32, got float64'):
        load(path)


def test_a_truncated_file_is_reported_as_corrupt(tmp_path):
    path = save(tmp_path / "best.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="corrupt tensor data"):
        load(path)


def test_saving_refuses_what_could_not_be_loaded_and_leaves_the_old_file_alone(tmp_path):
    path = save(tmp_path / "best.safetensors")
    original = path.read_bytes()
    bad_weights = weights()
    bad_weights["layers.0.weight_root"] = np.zeros((3, 3), dtype=np.float32)
    with pytest.raises(CheckpointError, match=r'refusing to save .*"layers\.0\.weight_root": expected shape'):
        save(path, weights=bad_weights)
    with pytest.raises(CheckpointError, match="training metadata is not plain JSON"):
        save(path, training={"when": object()})
    with pytest.raises(CheckpointError, match="vocabulary"):
        save(path, vocabularies={"imports": [], "bug_kinds": []})
    assert path.read_bytes() == original
    assert [entry.name for entry in tmp_path.iterdir()] == ["best.safetensors"]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_an_interrupted_save_leaves_the_previous_checkpoint_loadable_and_no_temporary_file(
    tmp_path, monkeypatch, failing: str
):
    path = save(tmp_path / "best.safetensors")

    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, failing, crash)
    with pytest.raises(OSError, match="simulated crash"):
        save(path, weights=weights(seed=1), training={"epoch": 2})
    monkeypatch.undo()
    assert [entry.name for entry in tmp_path.iterdir()] == ["best.safetensors"]
    assert load(path).training == TRAINING


def test_saving_replaces_the_previous_checkpoint_and_creates_missing_directories(tmp_path):
    path = tmp_path / "runs" / "7" / "best.safetensors"
    save(path)
    save(path, training={"epoch": 2})
    assert load(path).training == {"epoch": 2}
    assert [entry.name for entry in path.parent.iterdir()] == ["best.safetensors"]


def test_a_saved_checkpoint_is_readable_by_everyone_not_only_its_writer(tmp_path):
    path = tmp_path / "shipped.safetensors"
    save(path)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("values", [
    {"hidden_dims": [1] * (MAX_LAYERS + 1)}, {"hidden_dims": [MAX_WIDTH + 1]}, {"embedding_dim": MAX_WIDTH + 1},
    {"num_imports": 10**9},
], ids=["too many layers", "too wide a layer", "too wide an embedding", "too many imports"])
def test_a_config_past_the_bounds_is_refused_before_any_shape_is_listed(values):
    # a checkpoint's config is read before its weights: millions of layers would list millions of shapes
    with pytest.raises(ValueError, match=r"more than|at most"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), **values})
