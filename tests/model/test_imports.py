"""Import ranking: the head alone by default, the name index when fitted, imported modules skipped."""

import numpy as np

from model.imports import FEATURE_NAMES, ImportIndex, ImportRanker, is_private, submodules_from_json

VOCABULARY = ["os", "json", "collections"]


def test_with_default_weights_the_ranking_is_the_heads_own():
    probs = np.array([0.2, 0.9, 0.5])
    ranked = ImportRanker(VOCABULARY, ImportIndex()).rank(probs, {"np"}, set(), 3)
    assert [m for m, _ in ranked] == ["json", "collections", "os"]
    assert np.allclose([s for _, s in ranked], [0.9, 0.5, 0.2])


def test_modules_already_imported_are_never_suggested():
    ranked = ImportRanker(VOCABULARY, ImportIndex()).rank(np.array([0.2, 0.9, 0.5]), set(), {"json"}, 3)
    assert "json" not in [m for m, _ in ranked]


def test_an_imported_module_a_free_name_speaks_for_is_still_suggested():
    # `from collections import OrderedDict` then `defaultdict(list)`: collections is imported, the name is not
    index = ImportIndex.from_bindings([("defaultdict", "collections")], weights=(1.0, 4.0, 8.0, 2.0, -6.0))
    ranker = ImportRanker(VOCABULARY, index)
    probs = np.array([0.01, 0.01, 0.01])
    assert [m for m, _ in ranker.rank(probs, {"defaultdict"}, {"collections"}, 1)] == ["collections"]
    assert "collections" not in [m for m, _ in ranker.rank(probs, set(), {"collections"}, 3)]  # no name: skipped


def test_a_relative_module_from_training_code_is_never_suggested():
    # `from . import x` in some training package: `import .` is no line a host can insert
    ranked = ImportRanker([".", ".tests", "json"], ImportIndex()).rank(np.array([0.9, 0.8, 0.1]), set(), set(), 3)
    assert [m for m, _ in ranked] == ["json"]


def test_name_evidence_can_bring_in_a_module_outside_the_vocabulary():
    index = ImportIndex.from_bindings([("np", "numpy"), ("np", "numpy"), ("OrderedDict", "collections")],
                                      weights=(1.0, 4.0, 8.0, 2.0, -6.0))
    ranked = ImportRanker(VOCABULARY, index).rank(np.array([0.01, 0.01, 0.01]), {"np"}, set(), 2)
    assert ranked[0][0] == "numpy" and ranked[0][1] > 0.9


def test_candidate_features_mark_vocabulary_membership_and_name_shares():
    index = ImportIndex.from_bindings([("path", "os"), ("path", "os.path")])
    modules, features = ImportRanker(VOCABULARY, index).features(np.array([0.5, 0.5, 0.5]), {"path"})
    assert modules == ["os", "json", "collections", "os.path"]
    assert features.shape == (4, len(FEATURE_NAMES))
    share = FEATURE_NAMES.index("name_share")
    assert features[0, share] == 0.5 and features[3, share] == 0.5 and features[1, share] == 0.0


def test_a_module_the_code_reads_by_its_name_or_usual_alias_is_marked_and_weighed():
    index = ImportIndex.from_bindings([("csv", "csv"), ("pd", "pandas")],
                                      weights=(1.0, 4.0, 1.0, 1.0, 0.0, 0.0, 6.0, -6.0))
    ranker = ImportRanker(VOCABULARY, index, {"pandas": "pd", "numpy": "np"})
    modules, features = ranker.features(np.array([0.5, 0.5, 0.5]), {"csv", "pd", "json"})
    named = FEATURE_NAMES.index("named")
    assert {m for m, row in zip(modules, features, strict=True) if row[named]} == {"csv", "pandas", "json"}
    scores = dict(ranker.rank(np.array([0.01, 0.01, 0.01]), {"csv", "pd"}, set(), 5))
    assert scores["csv"] > 0.85 and scores["pandas"] > 0.85  # sigmoid(2); without `named`, sigmoid(-4)
    without = ImportRanker(VOCABULARY, index).rank(np.array([0.01, 0.01, 0.01]), {"pd"}, set(), 1)
    assert without[0][1] < 0.1  # no alias table: `pd` names nothing


def test_a_lower_case_one_letter_alias_or_one_of_builtins_or_a_private_module_names_nothing():
    ranker = ImportRanker(["builtins", "typing", "numpy", "_io", "torch.nn.functional"], ImportIndex(),
                          {"builtins": "m", "typing": "t", "numpy": "np", "_io": "io_", "torch.nn.functional": "F"})
    modules, features = ranker.features(np.full(5, 0.5), {"m", "t", "np", "io_", "F"})
    named = [m for m, row in zip(modules, features, strict=True) if row[FEATURE_NAMES.index("named")]]
    assert named == ["numpy", "torch.nn.functional"]  # `F` is torch's: an upper-case letter is no variable


def test_weights_saved_before_an_input_existed_read_as_zero_there():
    head_and_table = (1.0, 4.0, 8.0, 2.0, -6.0)
    with_project = (1.0, 4.0, 8.0, 2.0, 10.0, 4.0, -6.0)
    assert ImportIndex(weights=head_and_table).weights == (1.0, 4.0, 8.0, 2.0, 0.0, 0.0, 0.0, -6.0)
    assert ImportIndex(weights=with_project).weights == (1.0, 4.0, 8.0, 2.0, 10.0, 4.0, 0.0, -6.0)
    assert ImportIndex.from_json({"names": {}, "weights": list(with_project)}).weights[-2:] == (0.0, -6.0)


def test_the_index_survives_its_json_form_and_malformed_json_falls_back_to_the_head():
    index = ImportIndex.from_bindings([("np", "numpy")], weights=(1, 2, 3, 4, 5))
    assert ImportIndex.from_json(index.to_json()) == index
    assert ImportIndex.from_json({"names": [], "weights": "x"}) == ImportIndex()


def test_a_submodule_binding_a_name_speaks_only_for_code_that_reads_that_submodule():
    index = ImportIndex.from_bindings([("urllib", "urllib.parse")] * 3 + [("urllib", "urllib.request"), ("os", "os"),
                                      ("os", "os.path")], weights=(1.0, 4.0, 8.0, 2.0, -6.0))
    ranker = ImportRanker(VOCABULARY, index)
    low = np.array([0.01, 0.01, 0.01])

    def reads(**attributes):
        return lambda: {name: frozenset(values) for name, values in attributes.items()}

    ranked = [m for m, _ in ranker.rank(low, {"urllib"}, set(), 2, attribute_reads=reads(urllib={"request"}))]
    assert ranked[:1] == ["urllib.request"] and "urllib.parse" not in ranked
    assert [m for m, _ in ranker.rank(low, {"urllib"}, set(), 1)] == ["urllib.parse"]  # nothing read: as before
    # the module itself stays (`import os` serves `os.path.join`)
    assert "os" in [m for m, _ in ranker.rank(low, {"os"}, set(), 2, attribute_reads=reads(os={"path"}))]


def test_a_name_read_as_a_known_module_speaks_only_for_that_module():
    index = ImportIndex.from_bindings([("numpy", "safetensors"), ("np", "numpy"), ("os", "os"), ("os", "os.path")],
                                      weights=(1.0, 4.0, 8.0, 2.0, -6.0))
    ranker = ImportRanker(VOCABULARY, index)
    low = np.array([0.01, 0.01, 0.01])
    assert [m for m, _ in ranker.rank(low, {"numpy"}, set(), 3)][:1] == ["safetensors"]  # `numpy` as a name
    read = {"numpy": frozenset({"zeros"}), "os": frozenset({"path"})}
    assert "safetensors" not in [m for m, _ in ranker.rank(low, {"numpy"}, set(), 3, attribute_reads=lambda: read)]
    kept = [m for m, _ in ranker.rank(low, {"os"}, set(), 2, attribute_reads=lambda: read)]  # its submodules stay
    assert sorted(kept) == ["os", "os.path"]


def test_private_modules_are_suggested_only_from_the_codes_own_project():
    assert is_private("pip._vendor") and is_private("_pytest.main") and is_private("numpy._core.numeric")
    assert not is_private("os.path") and not is_private("__future__") and not is_private("a.__main__")
    index = ImportIndex.from_bindings([("requests", "pip._vendor"), ("np", "numpy")],
                                      weights=(1.0, 4.0, 8.0, 2.0, -6.0))
    ranked = ImportRanker(VOCABULARY, index).rank(np.array([0.01, 0.01, 0.01]), {"requests", "np"}, set(), 3)
    assert [m for m, _ in ranked][:1] == ["numpy"] and "pip._vendor" not in [m for m, _ in ranked]


def test_code_with_a_star_import_gets_no_suggestion():
    ranker = ImportRanker(VOCABULARY, ImportIndex())
    assert ranker.rank(np.array([0.2, 0.9, 0.5]), {"sqrt"}, {"math"}, 3, star_import=True) == []


def test_a_private_module_the_code_reads_by_name_is_still_suggested():
    index = ImportIndex.from_bindings([("_thread", "_thread")], weights=(1.0, 4.0, 8.0, 2.0, -6.0))
    ranked = ImportRanker(VOCABULARY, index).rank(np.array([0.01, 0.01, 0.01]), {"_thread"}, set(), 3)
    assert [m for m, _ in ranked][:1] == ["_thread"]  # `_thread.allocate_lock()`: asked for by name


def test_a_public_package_read_by_name_does_not_bring_in_its_private_parts():
    index = ImportIndex.from_bindings([("main", "pip._vendor"), ("np", "numpy")], weights=(1.0, 4.0, 8.0, 2.0, -6.0))
    ranked = ImportRanker(VOCABULARY, index).rank(np.array([0.01, 0.01, 0.01]), {"pip", "main", "np"}, set(), 3)
    assert "pip._vendor" not in [m for m, _ in ranked]  # `pip.main()` asks for pip, not pip's internals


SUBMODULES = {"logging": {"handlers": False, "config": False}, "json": {"decoder": True},
              "xml": {"etree": False, "dom": False}, "xml.etree": {"ElementTree": False},
              "pkg": {"loaded": True}, "pkg.loaded": {"inner": False}}
"""What importing each package loads (the checkpoint's `import_submodules`)."""


def _submodule_ranking(free: set[str], reads: dict[str, frozenset[str]], table: list[tuple[str, str]],
                       submodules: dict | None = SUBMODULES) -> list[str]:
    index = ImportIndex.from_bindings(table, weights=(0.0, 0.0, 8.0, 2.0, 0.0, 0.0, 0.0, -6.0))
    ranker = ImportRanker(["os"], index, submodules=submodules)
    ranked = ranker.rank(np.array([0.01]), free, set(), 3, attribute_reads=lambda: reads)
    return [m for m, score in ranked if score > 0.5]  # the modules the evidence speaks for


def test_code_reading_a_submodule_its_package_does_not_load_gets_that_submodule():
    # `logging.handlers.RotatingFileHandler(p)` after `import logging` alone is an AttributeError
    table = [("logging", "logging")]
    reads = {"logging": frozenset({"getLogger", "handlers", "handlers.RotatingFileHandler"})}
    assert _submodule_ranking({"logging"}, reads, table) == ["logging.handlers"]
    assert _submodule_ranking({"logging"}, reads, table, submodules=None) == ["logging"]  # nothing known: as before
    assert _submodule_ranking({"logging"}, {"logging": frozenset({"getLogger"})}, table) == ["logging"]


def test_a_submodule_the_package_loads_itself_needs_only_the_package():
    reads = {"json": frozenset({"decoder", "decoder.JSONDecodeError"})}
    assert _submodule_ranking({"json"}, reads, [("json", "json")]) == ["json"]
    # ... unless something below it is not loaded: `import pkg.loaded.inner` loads all three
    reads = {"pkg": frozenset({"loaded", "loaded.inner", "loaded.inner.f"})}
    assert _submodule_ranking({"pkg"}, reads, [("pkg", "pkg")]) == ["pkg.loaded.inner"]


def test_the_deepest_submodule_of_each_chain_is_imported_and_no_table_line_is_needed():
    reads = {"xml": frozenset({"etree", "etree.ElementTree", "etree.ElementTree.parse", "dom", "dom.minidom"})}
    assert sorted(_submodule_ranking({"xml"}, reads, [])) == ["xml.dom", "xml.etree.ElementTree"]


def test_a_name_the_table_binds_from_elsewhere_only_is_left_to_the_table():
    # `from app import logging` in training code: the name is not the package there
    reads = {"logging": frozenset({"handlers"})}
    assert _submodule_ranking({"logging"}, reads, [("logging", "app")]) == ["app"]


def test_malformed_submodule_tables_read_as_unknown():
    assert submodules_from_json(None) == {} and submodules_from_json([1]) == {}
    assert submodules_from_json({"a": {"b": False, "c": 1, 2: True}, "d": [], 3: {}}) == {"a": {"b": False}}
