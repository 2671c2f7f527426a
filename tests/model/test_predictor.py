"""The Predictor: checkpoint search order, untrained fallback, reload, batching and bad input."""

import threading

import numpy as np
import pytest

from model.errors import CheckpointError, FeatureVectorError
from model.imports import ImportIndex
from model.predictor import CHECKPOINT_ENV, MAX_FEATURE_MAGNITUDE, Predictor, import_statement
from model.vocabulary import BUG_KINDS
from tests.helpers import write_checkpoint
from tests.model.stdlib_code import stdlib_functions

IMPORTS = ["os", "json", "numpy", "collections"]


@pytest.fixture(autouse=True)
def no_checkpoints_on_this_machine(monkeypatch, tmp_path):
    """Point every search location at empty places so tests see only the checkpoints they write."""
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("model.predictor.SHIPPED_CHECKPOINT", tmp_path / "shipped" / "none.safetensors")


def test_without_any_checkpoint_it_falls_back_to_untrained_weights_and_says_why():
    predictor = Predictor()
    predictor.load()
    info = predictor.info()
    assert info["status"] == "loaded" and info["trained"] is False and info["checkpoint"] is None
    assert "untrained" in info["reason"] and "not found" in info["reason"]
    assert info["heads"]["bugs"]["size"] == len(BUG_KINDS)


def test_the_version_names_the_loaded_network_and_asking_for_it_loads_the_model(tmp_path):
    predictor = Predictor(write_checkpoint(tmp_path / "narrow.safetensors", IMPORTS, hidden_dims=(32, 16)))
    assert not predictor.ready
    assert predictor.info()["version"] == "graphsage-978-32-16"
    assert predictor.ready


def test_the_untrained_fallback_is_deterministic_and_suggests_nothing():
    source = stdlib_functions()[3]
    first = Predictor().predict_sources([source])[0]
    second = Predictor().predict_sources([source])[0]
    assert first.confidence == second.confidence
    assert first.imports == [] and first.bugs == []


def test_an_explicit_path_wins_over_the_environment(tmp_path, monkeypatch):
    explicit = write_checkpoint(tmp_path / "explicit.safetensors", IMPORTS, seed=1)
    monkeypatch.setenv(CHECKPOINT_ENV, str(write_checkpoint(tmp_path / "env.safetensors", IMPORTS, seed=2)))
    predictor = Predictor(explicit)
    predictor.load()
    assert predictor.info()["checkpoint"] == str(explicit)
    assert predictor.info()["trained"] is True


def test_the_environment_wins_over_the_users_checkpoint(tmp_path, monkeypatch):
    env = write_checkpoint(tmp_path / "env.safetensors", IMPORTS, seed=2)
    monkeypatch.setenv(CHECKPOINT_ENV, str(env))
    user = tmp_path / "home" / ".yantra" / "checkpoints" / "graphsage" / "best_model.safetensors"
    write_checkpoint(user, IMPORTS, seed=3)
    predictor = Predictor()
    predictor.load()
    assert predictor.info()["checkpoint"] == str(env)


def test_the_users_checkpoint_is_found_in_the_home_directory(tmp_path):
    user = tmp_path / "home" / ".yantra" / "checkpoints" / "graphsage" / "best_model.safetensors"
    write_checkpoint(user, IMPORTS, seed=3)
    predictor = Predictor()
    predictor.load()
    assert predictor.info()["checkpoint"] == str(user)


def test_a_corrupt_checkpoint_is_skipped_with_its_reason_and_the_search_goes_on(tmp_path, monkeypatch):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    monkeypatch.setenv(CHECKPOINT_ENV, str(broken))
    predictor = Predictor()
    predictor.load()
    info = predictor.info()
    assert info["trained"] is False and str(broken) in info["reason"]


@pytest.mark.parametrize("asked_by", ["explicit path", "environment"])
def test_a_checkpoint_asked_for_that_is_missing_is_named_when_a_later_one_loads(tmp_path, monkeypatch, asked_by):
    user = tmp_path / "home" / ".yantra" / "checkpoints" / "graphsage" / "best_model.safetensors"
    write_checkpoint(user, IMPORTS, seed=3)
    missing = tmp_path / "typo.safetensors"
    if asked_by == "environment":
        monkeypatch.setenv(CHECKPOINT_ENV, str(missing))
    predictor = Predictor(missing if asked_by == "explicit path" else None)
    predictor.load()
    info = predictor.info()
    assert info["checkpoint"] == str(user) and info["trained"] is True
    assert str(missing) in info["reason"] and "loaded the user checkpoint instead" in info["reason"]


def test_a_checkpoint_found_where_none_was_asked_for_has_no_reason(tmp_path):
    user = tmp_path / "home" / ".yantra" / "checkpoints" / "graphsage" / "best_model.safetensors"
    write_checkpoint(user, IMPORTS, seed=3)
    predictor = Predictor()
    predictor.load()
    assert predictor.info()["reason"] is None  # the environment's and the explicit path's absence is normal


def test_a_hosts_pass_rate_restates_confidence_from_the_checkpoints_own(tmp_path):
    from model.confidence import shift_to_pass_rate

    labelled = write_checkpoint(tmp_path / "labelled.safetensors", IMPORTS, seed=1, training={
        "trained": True, "confidence_labels": {"source": "HumanEval executed tests", "passed": 20, "samples": 100}})
    source = stdlib_functions()[3]
    own, host = Predictor(labelled), Predictor(labelled, confidence_pass_rate=0.5)
    as_trained = own.predict_sources([source])[0].confidence
    assert own.info()["confidence_pass_rate"] == pytest.approx(0.2)
    assert host.predict_sources([source])[0].confidence == pytest.approx(shift_to_pass_rate(as_trained, 0.2, 0.5))
    assert host.info()["confidence_pass_rate"] == 0.5
    assert host.reload()["confidence_pass_rate"] == 0.5  # a reload keeps the host's rate


def test_without_executed_labels_there_is_no_rate_to_shift_from(tmp_path):
    source = stdlib_functions()[3]
    plain = Predictor(confidence_pass_rate=0.5)  # the untrained fallback: no confidence_labels
    assert plain.predict_sources([source])[0].confidence == Predictor().predict_sources([source])[0].confidence
    assert plain.info()["confidence_pass_rate"] is None
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        Predictor(confidence_pass_rate=1.0)


def test_reload_swaps_in_a_new_checkpoint_and_a_failed_reload_keeps_the_old_one(tmp_path):
    predictor = Predictor()
    predictor.load()
    path = write_checkpoint(tmp_path / "new.safetensors", IMPORTS, seed=1)
    assert predictor.reload(path)["checkpoint"] == str(path)
    with pytest.raises(CheckpointError):
        predictor.reload(tmp_path / "missing.safetensors")
    assert predictor.info()["checkpoint"] == str(path)


def test_every_prediction_says_which_model_made_it_before_and_after_a_reload(tmp_path):
    predictor = Predictor()  # untrained: nothing on this machine's search path
    sources = ["def f(x):\n    return x + 1\n", "def broken(:\n"]

    def stamps() -> set[tuple[str, bool]]:
        made = [*predictor.predict_sources(sources), *predictor.predict_vectors(np.zeros((1, 978)))]
        return {(p.model.version, p.model.trained) for p in made}

    info = predictor.info()
    assert stamps() == {(info["version"], False)}
    predictor.reload(write_checkpoint(tmp_path / "new.safetensors", IMPORTS, seed=1, hidden_dims=(64, 64)))
    info = predictor.info()
    assert info["version"] != Predictor().info()["version"] and stamps() == {(info["version"], True)}


def test_a_reload_cancelled_while_its_file_was_read_leaves_the_old_model_serving(tmp_path):
    predictor = Predictor()
    predictor.load()
    before = predictor.info()["checkpoint"]
    path = write_checkpoint(tmp_path / "new.safetensors", IMPORTS, seed=1)
    assert predictor.reload(path, cancelled=lambda: True)["checkpoint"] == before
    assert predictor.reload(path, cancelled=lambda: False)["checkpoint"] == str(path)


@pytest.mark.parametrize("threshold", ["high", [0.5], True, 10**400])
def test_a_malformed_threshold_fails_the_reload_by_name_and_the_old_model_keeps_serving(tmp_path, threshold):
    predictor = Predictor()
    predictor.load()
    before = predictor.info()["checkpoint"]
    path = write_checkpoint(tmp_path / "odd.safetensors", IMPORTS, training={"trained": True,
                                                                           "thresholds": {"bugs": threshold}})
    with pytest.raises(CheckpointError, match=r"training\.thresholds\.bugs"):
        predictor.reload(path)
    assert predictor.info()["checkpoint"] == before


def test_a_checkpoint_round_trip_gives_identical_predictions(tmp_path):
    path = write_checkpoint(tmp_path / "a.safetensors", IMPORTS, seed=5)
    sources = list(stdlib_functions()[:5])
    first = Predictor(path).predict_sources(sources, include_embedding=True)
    second = Predictor(path).predict_sources(sources, include_embedding=True)
    for a, b in zip(first, second, strict=True):
        assert a.confidence == b.confidence
        assert np.array_equal(a.embedding, b.embedding)


def test_one_batched_call_gives_the_same_answers_as_one_call_per_source(tmp_path):
    predictor = Predictor(write_checkpoint(tmp_path / "a.safetensors", IMPORTS, seed=1))
    sources = list(stdlib_functions()[10:30])
    batched = predictor.predict_sources(sources, include_embedding=True)
    for source, together in zip(sources, batched, strict=True):
        alone = predictor.predict_sources([source], include_embedding=True)[0]
        assert alone.confidence == pytest.approx(together.confidence, abs=1e-5)
        assert np.allclose(alone.embedding, together.embedding, atol=1e-5)


def test_code_that_does_not_parse_gets_confidence_zero_and_a_located_syntax_error():
    result = Predictor().predict_sources(["def f(:\n    pass\n"])[0]
    assert result.confidence == 0.0 and result.parsed is False
    assert [(b.kind, b.line) for b in result.bugs] == [("syntax_error", 1)]
    assert result.bugs[0].column is not None


def test_confidence_is_a_probability_and_the_embedding_a_unit_vector():
    for result in Predictor().predict_sources(list(stdlib_functions()[:20]), include_embedding=True):
        assert 0.0 <= result.confidence <= 1.0
        assert np.linalg.norm(result.embedding) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("vector", "message"),
    [([0.0] * 977, "expected 978"), ([0.0] * 977 + [float("nan")], "NaN"), ([0.0] * 977 + [float("inf")], "NaN"),
     ([[0.0] * 978, [0.0] * 5], "978"), ([0.0] * 500 + [-1e38] + [0.0] * 477, "feature 500 is larger than 1e+15")],
)
def test_a_bad_host_vector_is_refused_with_what_was_expected(vector, message):
    with pytest.raises(FeatureVectorError) as info:
        Predictor().predict_vectors(vector)
    assert message in str(info.value) and info.value.expected == 978


def test_host_vectors_up_to_the_largest_accepted_magnitude_give_finite_answers():
    signs = np.where(np.arange(978) % 3, 1.0, -1.0)
    for vector in (np.full(978, MAX_FEATURE_MAGNITUDE), signs * MAX_FEATURE_MAGNITUDE):
        result = Predictor().predict_vectors([vector], include_embedding=True)[0]
        scores = [result.confidence, *(b.score for b in result.bugs), *(i.score for i in result.imports)]
        assert np.isfinite(scores).all() and np.isfinite(result.embedding).all()


def test_host_vectors_predict_as_one_node_graphs():
    predictor = Predictor()
    features = predictor.extract_features(stdlib_functions()[0]).features
    assert 0.0 <= predictor.predict_vectors([features])[0].confidence <= 1.0


def test_extracted_features_give_the_whole_code_nodes_and_the_ten_categories():
    extraction = Predictor().extract_features(stdlib_functions()[0])
    assert extraction.features.shape == (978,)
    assert np.array_equal(extraction.features, extraction.nodes[0].features)
    assert extraction.categories[0].name == "identity" and len(extraction.categories) == 10


def test_many_threads_share_one_predictor_and_get_consistent_answers(tmp_path):
    predictor = Predictor(write_checkpoint(tmp_path / "a.safetensors", IMPORTS, seed=1))
    sources = list(stdlib_functions()[:8])
    expected = [p.confidence for p in predictor.predict_sources(sources)]
    results: list[list[float]] = []

    def work():
        results.append([p.confidence for p in predictor.predict_sources(sources)])

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 6
    for got in results:
        assert got == pytest.approx(expected, abs=1e-6)


def test_import_statements_use_the_name_the_code_reads():
    assert import_statement("os.path", frozenset({"os"})) == "import os.path"
    assert import_statement("json", frozenset()) == "import json"


def test_import_statements_prefer_names_training_code_imported_from_the_module_then_aliases():
    from types import SimpleNamespace

    tables = SimpleNamespace(import_names={"datetime": ["datetime", "timedelta"]}, import_aliases={"numpy": "np"},
                             import_index=ImportIndex())
    assert import_statement("datetime", frozenset({"datetime", "timedelta"}), tables) == \
        "from datetime import datetime, timedelta"
    assert import_statement("numpy", frozenset({"np"}), tables) == "import numpy as np"
    assert import_statement("numpy", frozenset({"numpy"}), tables) == "import numpy"


def test_a_name_read_as_the_module_it_is_named_after_is_imported_as_that_module():
    from types import SimpleNamespace

    tables = SimpleNamespace(import_names={"datetime": ["datetime", "timedelta"], "copy": ["copy", "deepcopy"]},
                             import_aliases={}, import_index=ImportIndex())
    # `copy.deepcopy(x)` reads off `copy` what training code imported from the module: `from copy import
    # copy` would bind the function, and `copy.deepcopy` would fail
    def reads(name: str, attribute: str):
        return lambda: {name: frozenset({attribute})}

    assert import_statement("copy", frozenset({"copy"}), tables, None, reads("copy", "deepcopy")) == "import copy"
    assert import_statement("datetime", frozenset({"datetime"}), tables, None, reads("datetime", "datetime")) == \
        "import datetime"
    # `datetime.now()` reads what the class has, not the module: the class is imported
    assert import_statement("datetime", frozenset({"datetime"}), tables, None, reads("datetime", "now")) == \
        "from datetime import datetime"


def test_code_reading_a_module_and_names_from_it_gets_both_lines():
    from types import SimpleNamespace

    index = ImportIndex.from_bindings([("mean", "statistics"), ("mean", "numpy"), ("mean", "statistics")])
    tables = SimpleNamespace(import_names={"math": ["sqrt", "pi"], "statistics": ["stdev"]},
                             import_aliases={"numpy": "np"}, import_index=index)
    assert import_statement("math", frozenset({"math", "sqrt"}), tables) == "import math\nfrom math import sqrt"
    assert import_statement("numpy", frozenset({"np", "ndarray"}), SimpleNamespace(
        import_names={"numpy": ["ndarray"]}, import_aliases={"numpy": "np"}, import_index=ImportIndex())) == \
        "import numpy as np\nfrom numpy import ndarray"
    # `mean` is not among the names most imported from statistics, but statistics is its likeliest module
    assert import_statement("statistics", frozenset({"mean", "stdev"}), tables) == "from statistics import mean, stdev"
    assert import_statement("numpy", frozenset({"mean"}), tables) == "import numpy"


def test_every_name_the_code_reads_for_the_module_is_bound_and_none_it_reads_off_is_taken_as_a_function():
    from types import SimpleNamespace

    index = ImportIndex.from_bindings([("Text", "typing"), ("Text", "tkinter"), ("parse", "ast")])
    tables = SimpleNamespace(import_names={}, import_aliases={"numpy": "np"}, import_index=index)
    assert import_statement("numpy", frozenset({"np", "numpy"}), tables) == "import numpy\nimport numpy as np"
    assert import_statement("typing", frozenset({"Text"}), tables) == "from typing import Text"  # a tie counts
    reads = lambda: {"parse": frozenset({"quote"})}  # noqa: E731  `parse.quote(x)`: not ast's function
    assert import_statement("ast", frozenset({"ast", "parse"}), tables, None, reads) == "import ast"


def _rewritten(source, target, *, meta=None, tensors=None, raw_meta: str | None = None):
    """`source` saved again at `target` with its metadata or tensors changed as `meta(m)` and
    `tensors(t)` say, written raw (save_checkpoint would refuse what these tests need)."""
    import json
    import struct

    from safetensors.numpy import load, save

    data = source.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    metadata = json.loads(json.loads(data[8: 8 + size])["__metadata__"]["yantra"])
    weights = dict(load(data))
    if meta is not None:
        meta(metadata)
    if tensors is not None:
        tensors(weights)
    target.write_bytes(save(weights, metadata={"yantra": raw_meta or json.dumps(metadata)}))
    return target


def _metadata_of(path) -> dict:
    import json
    import struct

    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    return json.loads(json.loads(data[8: 8 + size])["__metadata__"]["yantra"])


def _narrow_network(meta: dict) -> None:
    meta["config"]["feature_dim"] = 10


def _narrow_tensors(weights: dict) -> None:
    weights["feature_mean"] = np.zeros(10, np.float32)
    weights["feature_std"] = np.ones(10, np.float32)
    for half in ("root", "neigh"):
        weights[f"layers.0.weight_{half}"] = np.zeros((weights[f"layers.0.weight_{half}"].shape[0], 10), np.float32)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"meta": _narrow_network, "tensors": _narrow_tensors}, "takes 10 features per node"),
        ({"tensors": lambda w: w.update(feature_mean=np.full(978, 3e38, np.float32))}, "feature_mean"),
        ({"raw_meta": "[" * 100_000 + "]" * 100_000}, "nested too deeply"),
    ],
    ids=["another feature width", "a huge finite feature mean", "metadata nested past the stack"],
)
def test_a_checkpoint_that_would_not_serve_fails_to_load_and_the_old_model_keeps_serving(tmp_path, change, message):
    predictor = Predictor(write_checkpoint(tmp_path / "good.safetensors", IMPORTS))
    predictor.load()
    before = predictor.info()["checkpoint"]
    bad = _rewritten(tmp_path / "good.safetensors", tmp_path / "bad.safetensors", **change)
    with pytest.raises(CheckpointError, match=message):
        predictor.reload(bad)
    assert predictor.info()["checkpoint"] == before
    assert 0.0 <= predictor.predict_sources(["x = 1\n"])[0].confidence <= 1.0
    fresh = Predictor(bad)
    fresh.load()  # an explicit path that fails: the untrained fallback, saying why
    assert fresh.info()["trained"] is False and "bad.safetensors" in fresh.info()["reason"]


@pytest.mark.parametrize(
    "training",
    [{"import_index": {"names": {}, "weights": ["x"] * 7}}, {"import_index": {"names": {}, "weights": [10**400] * 7}},
     {"import_names": {"numpy": [[1]]}}],
    ids=["index weights not numbers", "index weights too large", "import names not strings"],
)
def test_malformed_import_tables_load_as_if_absent_and_predictions_still_work(tmp_path, training):
    good = write_checkpoint(tmp_path / "good.safetensors", ["numpy", "os"])
    path = _rewritten(good, tmp_path / "c.safetensors", meta=lambda m: m["training"].update(training))
    predictor = Predictor(path)
    predictor.load()
    assert predictor.info()["checkpoint"] == str(path)
    result = predictor.predict_sources(["def f(a):\n    return np.zeros(a)\n"])[0]
    assert 0.0 <= result.confidence <= 1.0 and all(np.isfinite(i.score) for i in result.imports)


@pytest.mark.parametrize("training", [
    {"import_index": {"names": {"np": {"numpy": float("nan")}}, "weights": [float("nan")] * 7}},
    {"metrics": {"val_loss": float("inf")}}, {"when": "\ud800"}, {"import_names": {"num\udcffpy": ["zeros"]}},
    {"duration_s": "OVERFLOW"},
], ids=["NaN", "Infinity", "a lone surrogate", "a lone surrogate in a table", "a number beyond a double"])
def test_metadata_no_reply_could_carry_is_refused_at_load(tmp_path, training):
    # NaN, Infinity or a lone surrogate would reach model_info's or predict's reply, which cannot hold them
    import json

    good = write_checkpoint(tmp_path / "good.safetensors", IMPORTS)
    meta = json.loads(json.dumps({**_metadata_of(good), "training": {**_metadata_of(good)["training"], **training}}))
    raw = json.dumps(meta).replace('"OVERFLOW"', "1e400")  # json.dumps cannot write such a number itself
    path = _rewritten(good, tmp_path / "c.safetensors", raw_meta=raw)
    with pytest.raises(CheckpointError, match=r"not a JSON number|not a finite number|lone surrogate"):
        Predictor().reload(path)


def _with_tensor(dtype: str):
    """A change for `_rewritten`'s raw writer: one extra tensor whose header says `dtype`."""
    def change(data: bytes) -> bytes:
        import json
        import struct

        size = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8: 8 + size])
        end = max(entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__")
        header["zzz"] = {"dtype": dtype, "shape": [2], "data_offsets": [end, end + 4]}
        text = json.dumps(header).encode()
        return struct.pack("<Q", len(text)) + text + data[8 + size:] + b"\0" * 4
    return change


@pytest.mark.parametrize("change", [
    lambda data: _with_tensor("BF16")(data),
    "vocabulary null",
], ids=["a bfloat16 tensor", "a null vocabulary"])
def test_a_checkpoint_numpy_cannot_read_is_refused_and_does_not_stop_the_search(tmp_path, monkeypatch, change):
    good = write_checkpoint(tmp_path / "good.safetensors", IMPORTS)
    bad = tmp_path / "bad.safetensors"
    if change == "vocabulary null":
        _rewritten(good, bad, meta=lambda m: m["vocabularies"].update({"imports": None}))
    else:
        bad.write_bytes(change(good.read_bytes()))
    with pytest.raises(CheckpointError):
        Predictor().reload(bad)
    monkeypatch.setenv(CHECKPOINT_ENV, str(bad))  # asked for by name, and broken: the search goes on
    predictor = Predictor()
    predictor.load()
    assert predictor.info()["checkpoint"] != str(bad) and str(bad) in predictor.info()["reason"]


def test_pass_rates_that_round_to_zero_or_one_are_ignored_not_divided_by(tmp_path):
    for passed, samples in ((10**17 - 1, 10**17), (1, 10**400)):
        path = write_checkpoint(tmp_path / f"c{passed % 7}.safetensors", IMPORTS,
                                training={"trained": True, "confidence_labels": {"passed": passed, "samples": samples}})
        predictor = Predictor(path, confidence_pass_rate=0.3)
        predictor.load()
        assert predictor.info()["confidence_pass_rate"] is None
        assert 0.0 <= predictor.predict_sources(["def f(x):\n    return x + 1\n"])[0].confidence <= 1.0


def test_running_out_of_memory_at_load_is_not_taken_for_a_bad_file(tmp_path, monkeypatch):
    import model.predictor

    def exhausted(path, origin):
        raise MemoryError

    monkeypatch.setattr(model.predictor, "_load_checked", exhausted)
    with pytest.raises(MemoryError):
        Predictor().reload(write_checkpoint(tmp_path / "c.safetensors", IMPORTS))


def test_metadata_with_a_character_beyond_the_basic_plane_loads(tmp_path):
    good = write_checkpoint(tmp_path / "good.safetensors", IMPORTS)
    path = _rewritten(good, tmp_path / "c.safetensors", meta=lambda m: m["training"].update({"note": "\U0001F600"}))
    predictor = Predictor()
    predictor.reload(path)  # json.dumps writes it as an escaped surrogate pair
    assert predictor.info()["training"]["note"] == "\U0001F600"


@pytest.mark.parametrize("trained", [False, "false", 0, None])
def test_only_a_checkpoint_that_says_true_or_nothing_counts_as_trained(tmp_path, trained):
    path = write_checkpoint(tmp_path / "c.safetensors", IMPORTS, training={"trained": trained})
    predictor = Predictor(path)
    predictor.load()
    assert predictor.info()["trained"] is False and "untrained" in predictor.info()["reason"]


def test_a_checkpoints_submodule_table_turns_a_package_import_into_the_submodule_the_code_reads(tmp_path):
    training = {"trained": True, "thresholds": {"imports": 0.5, "bugs": 0.5},
                "import_index": {"names": {"logging": {"logging": 1.0}}, "weights": [0, 0, 8, 2, 0, 0, 0, -6]},
                "import_submodules": {"logging": {"handlers": False}, "ignored": "not a table"}}
    code = "def setup(path):\n    logging.getLogger().addHandler(logging.handlers.RotatingFileHandler(path))\n"
    with_table = Predictor(write_checkpoint(tmp_path / "with.safetensors", ["os"], training=training))
    without = Predictor(write_checkpoint(tmp_path / "without.safetensors", ["os"], training={
        **training, "import_submodules": None}))
    assert [i.statement for i in with_table.predict_sources([code])[0].imports] == ["import logging.handlers"]
    assert [i.statement for i in without.predict_sources([code])[0].imports] == ["import logging"]
    assert "import_submodules" not in with_table.info()["training"]  # a table, not facts about the run


def test_code_importing_a_package_itself_gets_the_submodule_it_reads_and_the_package_does_not_load(tmp_path):
    training = {"trained": True, "thresholds": {"imports": 0.9999, "bugs": 0.5},  # the head's guesses: none shown
                "import_submodules": {"logging": {"handlers": False, "config": False}, "json": {"decoder": True}}}
    predictor = Predictor(write_checkpoint(tmp_path / "c.safetensors", ["os"], training=training))

    def lines(code: str, top_k: int = 5) -> list[str]:
        return [i.statement for i in predictor.predict_sources([code], top_k=top_k)[0].imports]

    handlers = "def setup(p):\n    logging.getLogger().addHandler(logging.handlers.RotatingFileHandler(p))\n"
    assert lines("import logging\n\n" + handlers) == ["import logging.handlers"]
    assert lines("import logging.config\n\n" + handlers) == ["import logging.handlers"]  # binds logging too
    assert lines("import logging.handlers\n\n" + handlers) == []  # imported already
    assert lines("import logging\n\n" + handlers, top_k=0) == []
    assert lines("import json\n\ndef f(e):\n    return json.decoder.JSONDecodeError\n") == []  # json loads it
    assert lines("import logging\n\ndef f():\n    logging.getLogger().info(1)\n") == []
