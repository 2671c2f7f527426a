"""`yantra-eval`: the pieces on hand-made inputs, then one smoke run end to end on a tiny untrained checkpoint."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from model.checkpoint import load_checkpoint
from model.engine import GraphSAGEEngine
from model.layout import FEATURE_LAYOUT_VERSION
from model.predictor import DEFAULT_THRESHOLD, import_threshold
from model.vocabulary import BUG_KINDS
from tests.helpers import write_checkpoint
from training import evaluate as evaluate_module
from training.datasets import BugSample, DataConfig, executed_samples
from training.evaluate import (
    closer_rate,
    evaluate_bugs,
    import_category,
    localisation_accuracy,
    main,
    score_sources,
    site_localisation,
)
from training.report import report_rows

IMPORTS = ["os", "sys", "re", "collections", "typing", "functools"]


def _write_checkpoint(path: Path) -> Path:
    return write_checkpoint(path, IMPORTS, seed=3, hidden_dims=(16, 16), embedding_dim=8,
                            training={"trained": False, "note": "tiny test checkpoint"})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval")
    checkpoint = _write_checkpoint(root / "run" / "tiny.safetensors")
    (root / "run" / "metrics.jsonl").write_text(
        '{"epoch": 1, "train_loss": 2.0, "val_loss": 2.5, "bug_loss": 0.7}\n'
        '{"epoch": 2, "train_loss": 1.5, "val_loss": 2.1, "bug_loss": 0.6}\n'
    )
    return {"checkpoint": checkpoint, "cache": root / "cache", "out": root / "out"}


@pytest.fixture(scope="module")
def engine(tiny) -> GraphSAGEEngine:
    loaded = load_checkpoint(tiny["checkpoint"], expected_layout_version=FEATURE_LAYOUT_VERSION)
    return GraphSAGEEngine(loaded.config, loaded.weights)


def test_the_public_names_are_pinned():
    assert sorted(evaluate_module.__all__) == [
        "Scored", "SeedMismatch", "closer_rate", "evaluate", "evaluate_bugs", "evaluate_confidence",
        "evaluate_embedding", "evaluate_imports", "evaluate_stdlib_confidence", "import_category",
        "import_label_sets", "import_recalls", "localisation_accuracy", "main", "score_sources",
        "site_localisation", "split_seed", "trained_corpus",
    ]


@pytest.mark.parametrize(
    ("module", "package", "category"),
    [
        ("email.utils", "email", "own"),
        (".sibling", "anything", "own"),
        ("os.path", "email", "stdlib"),
        ("collections", "numpy", "stdlib"),
        ("numpy.linalg", "scipy", "third_party"),
    ],
)
def test_each_import_falls_into_one_category(module, package, category):
    assert import_category(module, package) == category


def test_sources_that_do_not_parse_are_left_out_and_node_probabilities_sum_to_one(engine):
    sources = ["def broken(:\n", "def f(x):\n    return x\n", "class A:\n    def m(self):\n        return 1\n"]
    scored = score_sources(engine, sources, batch_size=1)
    assert scored.kept.tolist() == [1, 2]
    assert scored.bug_probs.shape == (2, len(BUG_KINDS))
    assert [p.shape[0] for p in scored.node_probs] == [len(n) for n in scored.nodes] == [2, 3]
    assert all(p.sum() == pytest.approx(1.0, abs=1e-5) for p in scored.node_probs)


BOX = (
    "class Box:\n"
    "    def get(self):\n"
    "        return self.value\n"
    "\n"
    "    def put(self, value):\n"
    "        self.value = value + 1\n"
)
LONE = "def f(x):\n    return x - 1\n"


def _bug(source: str, line: int) -> BugSample:
    return BugSample(source, True, "off_by_one", line, 0, "", "test", "g")


def test_localisation_counts_only_buggy_graphs_where_a_choice_is_needed(engine):
    samples = [_bug(BOX, 6), _bug(LONE, 2), BugSample(BOX, False, None, 0, 0, "", "test", "g")]
    scored = score_sources(engine, [s.source for s in samples])
    names = [n.name for n in scored.nodes[0]]
    pick_put = np.eye(len(names))[names.index("put")]
    pick_get = np.eye(len(names))[names.index("get")]
    right = localisation_accuracy(replace(scored, node_probs=[pick_put, *scored.node_probs[1:]]), samples)
    wrong = localisation_accuracy(replace(scored, node_probs=[pick_get, *scored.node_probs[1:]]), samples)
    # only the Box sample counts; Box and put hold line 6, get does not: chance is 2 of 3 nodes
    assert right == {"n": 1, "model": 1.0, "baseline": pytest.approx(2 / 3)}
    assert wrong["model"] == 0.0


def test_the_module_node_never_counts_as_finding_the_bug(engine):
    samples = [_bug(BOX, 6)]
    scored = score_sources(engine, [BOX])
    module_first = np.eye(len(scored.nodes[0]))[0]
    assert scored.nodes[0][0].kind == "module"
    assert localisation_accuracy(replace(scored, node_probs=[module_first]), samples)["model"] == 0.0


def test_closer_rate_counts_ties_as_half():
    anchor = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    positive = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    negative = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    rate, ties = closer_rate(anchor, positive, negative)
    assert rate == pytest.approx((1 + 0 + 0.5) / 3)
    assert ties == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def smoke_run(tiny) -> tuple[int, str]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["--checkpoint", str(tiny["checkpoint"]), "--out", str(tiny["out"]), "--smoke",
                     "--cache-dir", str(tiny["cache"]), "--skip-confidence", "--folds", "3"])
    return code, stdout.getvalue()


def test_a_smoke_run_writes_every_artefact(tiny, smoke_run):
    code, _ = smoke_run
    assert code == 0
    for name in ("metrics.json", "report.md", "roc_bugs.png", "roc_confidence.png", "reliability.png",
                 "training_curves.png"):
        assert (tiny["out"] / name).stat().st_size > 0, name


def test_a_smoke_run_measures_every_head_beside_its_baseline_on_the_test_split(tiny, smoke_run):
    metrics = json.loads((tiny["out"] / "metrics.json").read_text())
    assert metrics["meta"]["split"] == "test"
    assert metrics["bugs"]["n_test"] > 0
    assert 0.0 <= metrics["bugs"]["auroc"]["model"] <= 1.0
    assert 0.0 <= metrics["bugs"]["auroc"]["baseline"] <= 1.0
    interval = metrics["bugs"]["auroc"]["interval"]  # the smoke corpus's test split holds several packages
    assert interval is not None and interval["se"] > 0
    assert all("interval" in entry for entry in metrics["bugs"]["auroc_by_kind"].values())
    assert metrics["imports"]["all"]["recall@5"]["baseline"] is not None
    with_project = metrics["imports"]["with_project"]
    assert with_project["n_with_project"] == metrics["imports"]["n_test"] > 0
    assert with_project["all"]["n"] == metrics["imports"]["all"]["n"]
    first = with_project["all"]["first_is_needed"]
    assert 0.0 <= first["baseline"] <= 1.0 and first["model"] >= with_project["all"]["recall@1"]["model"]
    assert 0.0 <= metrics["embedding"]["map_at_r"]["baseline"] <= 1.0
    assert metrics["embedding"]["variant_above_mutant"]["n"] > 0
    assert metrics["confidence"]["model"] == {"skipped": "skipped by --skip-confidence"}
    assert metrics["confidence"]["baseline"]["ece"] is not None
    assert metrics["confidence"]["canonical_as_shipped"]["n"] == 5


def test_the_canonical_solutions_as_shipped_get_what_the_daemons_predictor_serves(tiny, smoke_run):
    from model.predictor import Predictor

    metrics = json.loads((tiny["out"] / "metrics.json").read_text())
    sources = [s.source for group in executed_samples(DataConfig.smoke(cache_dir=str(tiny["cache"]))).values()
               for s in group if s.kind is None]
    served = [p.confidence for p in Predictor(tiny["checkpoint"]).predict_sources(sources)]
    assert metrics["confidence"]["canonical_as_shipped"]["mean"] == pytest.approx(np.mean(served))


def test_the_table_is_printed_and_the_report_names_the_date_machine_and_checkpoint(tiny, smoke_run):
    _, printed = smoke_run
    assert printed.startswith("| head | metric | n | model | baseline | goal |")
    assert "| bugs | AUROC clean vs buggy |" in printed
    assert "| imports | recall@5 own, project indexed |" in printed
    assert "| imports | first suggestion needed, all, project indexed |" in printed
    assert "| imports | precision of the suggestions shown at the threshold 0.5 |" in printed  # the default
    report = (tiny["out"] / "report.md").read_text()
    assert "- date: " in report and "logical cores" in report
    assert "tiny test checkpoint" in report
    assert printed.strip() in report
    assert "![roc_bugs](roc_bugs.png)" in report and "![reliability](reliability.png)" in report


def test_a_missing_checkpoint_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "absent.safetensors"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--folds", "1"], ["--folds", "0"], ["--max-files", "-1"], ["--batch-size", "0"],
                                   ["--seed", "-1"], ["--out", "{file}"], ["--out", "{file}/sub"]])
def test_an_unusable_option_or_output_folder_is_refused_before_the_evaluation_runs(flags, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    flags = [flag.replace("{file}", str(tmp_path / "file")) for flag in flags]
    with pytest.raises(SystemExit) as exit_info:
        main(["--checkpoint", str(tmp_path / "absent.safetensors"), *flags])  # refused before it is read
    assert exit_info.value.code == 2 and flags[0] in capsys.readouterr().err


def test_confidence_is_cross_validated_by_problem(tiny, engine):
    by_problem = executed_samples(DataConfig.smoke(cache_dir=str(tiny["cache"])))
    metrics, curves = evaluate_module.evaluate_confidence(engine, by_problem, folds=3, seed=0)
    assert metrics["folds"] == 3
    assert metrics["model"]["ece"] is not None and 0.0 <= metrics["model"]["ece"] <= 1.0
    assert metrics["canonical_out_of_fold"]["n"] == len(by_problem)
    assert set(curves) == {"model", "baseline"}


def test_with_a_confidence_scorer_the_model_is_the_scorers_refitted_per_fold_beside_the_head(tiny, engine):
    from training.confidence_sites import ScorerRecipe, fit_confidence_scorer, mutant_sites
    from training.humaneval import load_problems

    by_problem = executed_samples(DataConfig.smoke(cache_dir=str(tiny["cache"])))
    problems = [p for p in load_problems() if p.task_id in by_problem]
    recipe = ScorerRecipe(mutants_per_kind=1, epochs=2)
    samples = [s for group in by_problem.values() for s in group]
    scorer = fit_confidence_scorer(samples, mutant_sites(problems, recipe), recipe, folds=3)
    metrics, curves = evaluate_module.evaluate_confidence(engine, by_problem, folds=3, seed=0, scorer=scorer,
                                                          recipe=recipe, problems=problems)
    assert metrics["score"].startswith("confidence scorer") and metrics["n_scored_by_head"] == 0
    assert metrics["model"]["auroc"] != metrics["network_head"]["auroc"]
    interval = metrics["model"]["interval"]  # problems redrawn
    assert interval is not None and interval["se"] > 0
    assert set(curves) == {"model", "baseline", "network head"}
    assert set(metrics["auroc_by_kind"]) == {s.kind for s in samples if s.kind}


def test_stdlib_confidence_is_what_the_daemon_serves_beside_a_baseline_fitted_on_humaneval(tiny):
    from training.humaneval import ExecutedSample
    from training.metrics import auroc
    from training.report import report_rows

    humaneval = [s for group in executed_samples(DataConfig.smoke(cache_dir=str(tiny["cache"]))).values()
                 for s in group]
    samples = [
        ExecutedSample("m.f", "def f(a, b):\n    return a + b\n", None, True, "passed"),
        ExecutedSample("m.f", "def f(a, b):\n    return a - b\n", "wrong_binary_operator", False, "failed"),
        ExecutedSample("m.f", "def f(a, b):\n    return b + a\n", "swapped_operands", True, "passed"),
        ExecutedSample("n.g", "def g(x):\n    return x <= 3\n", "wrong_comparison_operator", False, "failed"),
    ]
    metrics = evaluate_module.evaluate_stdlib_confidence(str(tiny["checkpoint"]), samples, humaneval)
    assert (metrics["n_samples"], metrics["n_mutants"], metrics["n_mutants_passed"]) == (4, 3, 1)
    assert metrics["modules"] == ["m", "n"]
    served = evaluate_module._served_confidence(str(tiny["checkpoint"]), [s.source for s in samples])
    labels = np.array([s.passed for s in samples])
    assert metrics["model"]["auroc"] == pytest.approx(auroc(labels, served))
    assert metrics["mutants_only"]["model"] == pytest.approx(auroc(labels[1:], served[1:]))
    assert metrics["baseline"]["ece"] is not None
    rows = [row.metric for row in report_rows({"confidence": {"stdlib_tests": metrics}})]
    assert metrics["model_at_its_pass_rate"]["pass_rate"] == 0.5
    assert sum("stdlib" in metric or "mutants alone" in metric or "own pass rate" in metric for metric in rows) == 4
    one_class = evaluate_module.evaluate_stdlib_confidence(str(tiny["checkpoint"]), samples[:1], humaneval)
    assert "skipped" in one_class
    assert not any("stdlib" in row.metric for row in report_rows({"confidence": {"stdlib_tests": one_class}}))


def _site_scorer(*favoured: str):
    """A site scorer whose only signal is the feature texts `favoured` (model/sites.py hashes them)."""
    from model.sites import SITE_BUCKETS, SITE_TYPES, SiteModel
    from tests.helpers import feature_id

    weight = np.zeros(SITE_BUCKETS, np.float32)
    for text in favoured:
        weight[feature_id(text)] = 10.0
    return SiteModel(weight, np.zeros(len(SITE_TYPES)), (1.0, 0.0, 0.0))


SWAPPED = BugSample("def f(a, b):\n    return g(b, a)\n", True, "swapped_arguments", 2, 12, "", "test", "p")
MISUSED = BugSample("def f(a, b):\n    return g(a, a)\n", True, "variable_misuse", 2, 17, "", "test", "p")


def test_site_localisation_counts_the_top_site_against_picking_one_at_random():
    from training.sites import site_data

    samples = [SWAPPED, MISUSED, replace(SWAPPED, buggy=False, kind=None, line=0, column=0)]
    scorer, data = _site_scorer("a\x1fg"), site_data(samples)  # every call site wins
    logits = scorer.logits_of(data.ids, data.lengths, data.types)
    result = site_localisation(logits, data, samples)
    assert result["n"] == 2 and result["model"] == pytest.approx(0.5)  # right for the swap, not the misuse
    assert result["baseline"] == pytest.approx(1 / 3)  # each buggy sample has a call and two reads


def test_site_localisation_at_a_place_counts_another_site_that_starts_where_the_bug_does():
    from training.sites import site_data

    shifted = BugSample("def f(x):\n    return -1 < x\n", True, "off_by_one", 2, 12, "", "test", "p")  # was 0
    scorer, data = _site_scorer("c\x1f<"), site_data([shifted, MISUSED])  # comparisons win; else the first site
    result = site_localisation(scorer.logits_of(data.ids, data.lengths, data.types), data, [shifted, MISUSED])
    assert result["n"] == 2 and result["model"] == 0.0  # neither top site is the rewritten one...
    assert result["at_place"]["model"] == pytest.approx(0.5)  # ...but the comparison starts at the `-1`
    assert result["at_place"]["baseline"] == pytest.approx((2 / 3 + 1 / 3) / 2)  # -1 < x: 2 of its 3 sites there


def test_a_bug_aurocs_interval_follows_its_figure_in_the_table():
    from training.report import markdown_table, report_rows

    bugs = {"n_test": 9, "auroc": {"model": 0.7, "baseline": 0.5, "interval": {"low": 0.61, "high": 0.78}},
            "auroc_by_kind": {"swapped_arguments": {"n_buggy": 3, "model": 0.8, "baseline": 0.5, "interval": None}}}
    table = markdown_table(report_rows({"bugs": bugs}))
    assert "| bugs | AUROC clean vs buggy | 9 | 0.700 (0.610-0.780) | 0.500 | >= 0.85 (not met) |" in table
    assert "| bugs | AUROC swapped_arguments | 3 | 0.800 | 0.500 | >= 0.75 (met) |" in table


def test_the_report_has_a_row_for_localisation_by_place_when_the_metrics_have_it():
    from training.report import report_rows

    sites = {"n": 7, "model": 0.5, "baseline": 0.1, "at_place": {"model": 0.6, "baseline": 0.2}}
    rows = {row.metric: row for row in report_rows({"bugs": {"site_localisation": sites}})}
    place = rows["site localisation, the top site at the rewritten place (baseline: random site)"]
    assert (place.model, place.baseline, place.n) == (0.6, 0.2, 7)
    older = {"n": 7, "model": 0.5, "baseline": 0.1}  # a metrics.json from before the row
    assert not any("place" in row.metric for row in report_rows({"bugs": {"site_localisation": older}}))


def test_with_a_site_scorer_the_bug_score_is_the_strongest_sites(engine):
    samples = [SWAPPED, replace(SWAPPED, source="def f(a, b):\n    return a\n", buggy=False, kind=None)]
    metrics, _ = evaluate_bugs(engine, samples, sites=_site_scorer("a\x1fg"), baseline_train_limit=0)
    assert metrics["score"] == "highest bug-site probability"
    assert metrics["auroc"]["model"] == 1.0  # the call site of the buggy sample outscores a lone read
    assert metrics["site_localisation"]["n"] == 1 and metrics["auroc_head_alone"] is not None


def test_each_kinds_interval_redraws_the_packages_of_its_own_samples(engine, monkeypatch):
    clean = [replace(SWAPPED, source=f"def f{i}(a, b):\n    return a - {i}\n", buggy=False, kind=None, group=package)
             for i, package in enumerate("pqrs")]
    samples = [*clean, replace(SWAPPED, group="p"), replace(MISUSED, group="q"), replace(MISUSED, group="r")]
    seen: list[tuple[list[bool], list[str]]] = []
    real = evaluate_module.grouped_bootstrap_auroc

    def record(labels, scores, groups, **kwargs):
        seen.append(([bool(x) for x in labels], list(groups)))
        return real(labels, scores, groups, **kwargs)

    monkeypatch.setattr(evaluate_module, "grouped_bootstrap_auroc", record)
    evaluate_bugs(engine, samples, baseline_train_limit=0)
    clean_by_buggy: dict[tuple[str, ...], list[list[str]]] = {}
    for labels, groups in seen:
        buggy = tuple(g for g, b in zip(groups, labels, strict=True) if b)
        clean_by_buggy.setdefault(buggy, []).append(sorted(g for g, b in zip(groups, labels, strict=True) if not b))
    assert set(clean_by_buggy) == {("p",), ("q", "r"), ("p", "q", "r")}  # swapped, misused, overall
    assert all(list("pqrs") in cleans for cleans in clean_by_buggy.values())  # every clean one, its own package
    # and against the clean code each kind could be injected into: `a - i` misuses a name, calls nothing
    assert clean_by_buggy[("q", "r")] == [list("pqrs"), list("pqrs")]
    assert clean_by_buggy[("p",)] == [list("pqrs"), []]


def test_each_kind_is_also_measured_against_the_clean_code_it_could_be_injected_into(engine):
    with_call = replace(SWAPPED, source="def g(a, b):\n    return h(a, b)\n", buggy=False, kind=None, group="p")
    without = replace(SWAPPED, source="def k(a):\n    return a\n", buggy=False, kind=None, group="q")
    metrics, _ = evaluate_bugs(engine, [with_call, without, replace(SWAPPED, group="r")], baseline_train_limit=0)
    eligible = metrics["auroc_by_kind"]["swapped_arguments"]["eligible_clean"]
    assert eligible["n_clean"] == 1 and eligible["model"] is not None


def test_the_split_follows_the_checkpoints_training_seed_and_a_different_seed_is_refused():
    # a package's split hashes the seed: another seed would put training packages in the test split
    trained = {"config": {"seed": 3}}
    assert evaluate_module.split_seed(trained, None) == 3
    assert evaluate_module.split_seed(trained, 3) == 3
    with pytest.raises(evaluate_module.SeedMismatch, match="trained with seed 3"):
        evaluate_module.split_seed(trained, 0)
    assert evaluate_module.split_seed({}, None) == 0 and evaluate_module.split_seed({}, 5) == 5


def test_what_is_shown_is_measured_at_the_threshold_the_daemon_shows_from():
    here = Path("x.safetensors")
    assert import_threshold({"trained": True, "thresholds": {"imports": 0.52}}, here) == 0.52
    assert import_threshold({"trained": False}, here) == DEFAULT_THRESHOLD  # as the Predictor loads the file
    shown = {"threshold": 0.52, "precision": 0.9, "recall": 0.6, "f1": 0.72, "shown_per_sample": 1.1, "n": 7}
    rows = [row.metric for row in report_rows({"imports": {"shown": shown, "with_project": {"shown": shown}}})]
    assert "precision of the suggestions shown at the threshold 0.52" in rows
    assert "recall of the suggestions shown at the threshold 0.52, project indexed" in rows


def test_the_dictionary_reads_the_corpus_the_checkpoints_name_table_came_from():
    # yantra-eval reads 2,000 units a package, the training run 400: the table's lines follow the units
    data = DataConfig(seed=0, cache_dir="/nowhere")
    run = {"smoke": False, "max_units_per_package": 400, "max_files": 50}
    assert evaluate_module.trained_corpus(data, {"config": run}) == \
        replace(data, max_units_per_package=400, max_files=50)
    uncapped = evaluate_module.trained_corpus(data, {"config": {**run, "max_units_per_package": None}})
    assert uncapped.max_units_per_package is None
    for unknown in ({}, {"config": {"smoke": False}}, {"config": {**run, "max_units_per_package": "400",
                                                                   "max_files": None}}):
        assert evaluate_module.trained_corpus(data, unknown) == data  # the cap unknown: the evaluation's
    # a smoke run, or a quick evaluation, read other files than the run recorded: the evaluation's own
    assert evaluate_module.trained_corpus(data, {"config": {**run, "smoke": True}}) == data
    quick = replace(data, max_files=20)
    assert evaluate_module.trained_corpus(quick, {"config": run}) == quick
    smoke = DataConfig.smoke(cache_dir="/nowhere")
    assert evaluate_module.trained_corpus(smoke, {"config": run}) == smoke


def test_unequal_name_tables_are_warned_of_but_a_checkpoint_without_one_is_not(capsys):
    evaluate_module._warn_unless_same_names({"model": 1496, "baseline": 1496})
    evaluate_module._warn_unless_same_names({"model": 0, "baseline": 30})
    assert capsys.readouterr().err == ""
    evaluate_module._warn_unless_same_names({"model": 1496, "baseline": 1888})
    assert "1888 names and the model's table 1496" in capsys.readouterr().err


def test_the_intervals_redraw_the_packages_the_samples_functions_belong_to(engine, monkeypatch):
    # a sample's group is its function (path:line:name); a bootstrap over those would be too narrow
    clean = [replace(SWAPPED, source=f"def f{i}(a, b):\n    return a - {i}\n", buggy=False, kind=None,
                     group=f"pkg{i % 2}/m.py:{i}:f{i}") for i in range(4)]
    samples = [*clean, replace(SWAPPED, group="pkg0/m.py:0:f0"), replace(MISUSED, group="pkg1/m.py:1:f1")]
    packages = {s.group: s.group.split("/")[0] for s in samples}
    seen: list[list[str]] = []
    real = evaluate_module.grouped_bootstrap_auroc

    def record(labels, scores, groups, **kwargs):
        seen.append(list(groups))
        return real(labels, scores, groups, **kwargs)

    monkeypatch.setattr(evaluate_module, "grouped_bootstrap_auroc", record)
    metrics, _ = evaluate_bugs(engine, samples, baseline_train_limit=0, packages=packages)
    assert seen and all(set(groups) <= {"pkg0", "pkg1"} for groups in seen)
    assert metrics["interval_redraws"] == "packages"
    unmapped, _ = evaluate_bugs(engine, samples, baseline_train_limit=0)
    assert unmapped["interval_redraws"] == "functions"
    partly, _ = evaluate_bugs(engine, samples, baseline_train_limit=0, packages={"pkg0/m.py:0:f0": "pkg0"})
    assert partly["interval_redraws"].startswith("packages (") and "functions (" in partly["interval_redraws"]
