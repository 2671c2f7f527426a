"""The evaluation report: the Markdown table of model vs baseline vs goal, the report page and the plots.

Owns: turning a `yantra-eval` metrics dict into rows (head, metric, model, baseline, goal) with the goals
of issue 4, the Markdown page (date, machine, checkpoint training metadata, the table), and the PNG plots
(ROC curves, reliability diagram with the distribution of confidence on canonical solutions, training
curves from a checkpoint's metrics.jsonl). matplotlib runs on the Agg backend, imported only when
plotting. Leaves to others: computing the metrics (training/evaluate.py, training/metrics.py).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from model.checkpoint import write_atomically

__all__ = [
    "Row",
    "describe_machine",
    "machine_description",
    "markdown_table",
    "plot_training_curves",
    "render_report",
    "report_rows",
    "write_plots",
]


@dataclass(frozen=True)
class Row:
    """One line of the table. `goal` is (">=" or "<=", threshold), "beat baseline" or None."""

    head: str
    metric: str
    model: float | None
    baseline: float | None
    goal: tuple[str, float] | str | None = None
    n: int | None = None
    interval: tuple[float, float] | None = None
    """The model's 95% interval, where one was measured (bug AUROCs: a bootstrap over test packages;
    confidence AUROC: over HumanEval problems)."""

    def goal_text(self) -> str:
        if self.goal is None:
            return ""
        if self.model is None:
            verdict = "not measured"
        elif self.goal == "beat baseline":
            verdict = "met" if self.baseline is not None and self.model > self.baseline else "not met"
        else:
            operator, threshold = self.goal
            met = self.model >= threshold if operator == ">=" else self.model <= threshold
            verdict = "met" if met else "not met"
        label = self.goal if isinstance(self.goal, str) else f"{self.goal[0]} {self.goal[1]:g}"
        return f"{label} ({verdict})"


def machine_description() -> dict[str, Any]:
    """CPU model, logical cores, SIMD, OS and Python: enough to compare two reports or benchmark runs."""
    cpu = platform.processor() or platform.machine()
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("", platform.processor() or platform.machine()):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2" if flags else "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "simd": simd, "os": platform.platform(),
            "python": platform.python_version()}


def describe_machine() -> str:
    """`machine_description` as one line, for logs, checkpoints and benchmark output."""
    m = machine_description()
    return f"{m['cpu']}, {m['cores']} cores, {m['simd']}; Python {m['python']}; {m['os']}"


def _get(tree: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def _bug_rows(bugs: dict[str, Any]) -> list[Row]:
    rows = [Row("bugs", "AUROC clean vs buggy", _get(bugs, "auroc", "model"), _get(bugs, "auroc", "baseline"),
                (">=", 0.85), bugs.get("n_test"), _interval(_get(bugs, "auroc", "interval")))]
    goals = {"variable_misuse": (">=", 0.75), "swapped_arguments": (">=", 0.75)}
    for kind, entry in sorted((bugs.get("auroc_by_kind") or {}).items()):
        rows.append(Row("bugs", f"AUROC {kind}", entry["model"], entry["baseline"], goals.get(kind),
                        entry["n_buggy"], _interval(entry.get("interval"))))
        eligible = entry.get("eligible_clean")
        if eligible:
            rows.append(Row("bugs", f"AUROC {kind}, against the {eligible['n_clean']} clean functions it could be "
                            "injected into", eligible["model"], eligible["baseline"], goals.get(kind),
                            entry["n_buggy"], _interval(eligible.get("interval"))))
    if bugs.get("auroc_head_alone") is not None:
        rows.append(Row("bugs", "AUROC clean vs buggy, bugs head alone (no sites)", bugs["auroc_head_alone"], None,
                        None, bugs.get("n_test")))
    sites = bugs.get("site_localisation") or {}
    if sites:
        rows.append(Row("bugs", "site localisation accuracy (baseline: random site)", sites.get("model"),
                        sites.get("baseline"), "beat baseline", sites.get("n")))
        place = sites.get("at_place") or {}
        if place.get("model") is not None:
            rows.append(Row("bugs", "site localisation, the top site at the rewritten place (baseline: random site)",
                            place["model"], place.get("baseline"), "beat baseline", sites.get("n")))
    local = bugs.get("localisation") or {}
    rows.append(Row("bugs", "localisation accuracy (baseline: random node)", local.get("model"),
                    local.get("baseline"), "beat baseline", local.get("n")))
    return rows


def _interval(measured: dict[str, Any] | None) -> tuple[float, float] | None:
    return (measured["low"], measured["high"]) if measured else None


def _confidence_rows(confidence: dict[str, Any]) -> list[Row]:
    n = confidence.get("n_samples")
    rows = [
        Row("confidence", "AUROC (HumanEval, grouped CV)", _get(confidence, "model", "auroc"),
            _get(confidence, "baseline", "auroc"), (">=", 0.80), n, _interval(_get(confidence, "model", "interval"))),
        Row("confidence", "ECE (HumanEval, grouped CV)", _get(confidence, "model", "ece"),
            _get(confidence, "baseline", "ece"), ("<=", 0.05), n),
    ]
    if confidence.get("network_head"):
        rows.append(Row("confidence", "AUROC, the network's confidence head alone (grouped CV)",
                        _get(confidence, "network_head", "auroc"), _get(confidence, "baseline", "auroc"), None, n))
    for kind, value in (confidence.get("auroc_by_kind") or {}).items():
        rows.append(Row("confidence", f"AUROC, canonical solutions and {kind} mutants (grouped CV)",
                        value.get("auroc"), None, None, value.get("n_mutants")))
    rows += _stdlib_rows(confidence.get("stdlib_tests") or {})
    for key, label in (("canonical_out_of_fold", "out of fold"), ("canonical_as_shipped", "as shipped")):
        spread = confidence.get(key)
        if spread and spread.get("n"):
            rows.append(Row("confidence", f"std of confidence on canonical solutions ({label})",
                            spread["std"], None, (">=", 0.01), spread["n"]))
    return rows


def _stdlib_rows(stdlib: dict[str, Any]) -> list[Row]:
    """Confidence on standard-library code judged by its own tests: a second domain, no goal of its own."""
    if not stdlib.get("model"):
        return []
    where = "stdlib code and mutants judged by the stdlib's own tests"
    n, mutants = stdlib.get("n_samples"), stdlib.get("n_mutants")
    at_rate = stdlib.get("model_at_its_pass_rate") or {}
    return [
        Row("confidence", f"AUROC ({where})", _get(stdlib, "model", "auroc"), _get(stdlib, "baseline", "auroc"),
            None, n),
        Row("confidence", f"ECE ({where})", _get(stdlib, "model", "ece"), _get(stdlib, "baseline", "ece"), None, n),
        Row("confidence", f"ECE, the same with --confidence-pass-rate {_number(at_rate.get('pass_rate'))} "
            "(that set's own pass rate)", at_rate.get("ece"), None, None, n),
        Row("confidence", "AUROC, those mutants alone (survivors against those the tests kill)",
            _get(stdlib, "mutants_only", "model"), _get(stdlib, "mutants_only", "baseline"), None, mutants),
    ]


def _import_rows(imports: dict[str, Any]) -> list[Row]:
    """Without a project, then (when measured) with each sample's package indexed as its project."""
    rows = []
    for section, suffix in ((imports, ""), (imports.get("with_project") or {}, ", project indexed")):
        for category in ("all", "stdlib", "third_party", "own", "aliased"):
            entry = section.get(category) or {}
            if not entry:
                continue
            for k in (1, 5):
                scores = entry.get(f"recall@{k}") or {}
                rows.append(Row("imports", f"recall@{k} {category}{suffix}", scores.get("model"),
                                scores.get("baseline"), "beat baseline", entry.get("n")))
            first = entry.get("first_is_needed")
            if first:
                rows.append(Row("imports", f"first suggestion needed, {category}{suffix}", first.get("model"),
                                first.get("baseline"), "beat baseline", entry.get("n")))
        shown = section.get("shown")
        if shown:
            at = f"shown at the threshold {shown['threshold']:.4g}{suffix}"  # as the daemon has it (0.5199)
            rows += [Row("imports", f"{measure} of the suggestions {at}", shown[measure], None, None, shown["n"])
                     for measure in ("precision", "recall")]
    return rows


def _embedding_rows(embedding: dict[str, Any]) -> list[Row]:
    retrieval = embedding.get("map_at_r") or {}
    rate = embedding.get("variant_above_mutant") or {}
    return [
        Row("embedding", "MAP@R of semantic variants", retrieval.get("model"), retrieval.get("baseline"),
            (">=", 0.97), embedding.get("n_items")),
        Row("embedding", "anchor closer to variant than to mutant", rate.get("model"), rate.get("baseline"),
            (">=", 0.80), rate.get("n")),
    ]


def report_rows(metrics: dict[str, Any]) -> list[Row]:
    """The table's rows, head by head, with the goals issue 4 sets."""
    return (
        _bug_rows(metrics.get("bugs") or {})
        + _confidence_rows(metrics.get("confidence") or {})
        + _import_rows(metrics.get("imports") or {})
        + _embedding_rows(metrics.get("embedding") or {})
    )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def markdown_table(rows: Sequence[Row]) -> str:
    """head | metric | n | model | baseline | goal, one line per row; the model's 95% interval, where
    measured, follows its figure in parentheses."""
    lines = ["| head | metric | n | model | baseline | goal |", "|---|---|---:|---:|---:|---|"]
    for row in rows:
        n = "" if row.n is None else str(row.n)
        model = _number(row.model)
        if row.interval is not None:
            model += f" ({row.interval[0]:.3f}-{row.interval[1]:.3f})"
        lines.append(f"| {row.head} | {row.metric} | {n} | {model} | {_number(row.baseline)} | {row.goal_text()} |")
    return "\n".join(lines)


def _short(value: Any) -> str:
    """A metadata value in one short cell: big tables are summarised by their size."""
    if isinstance(value, dict | list) and len(orjson.dumps(value)) > 200:
        return f"({len(value)} entries)"
    text = orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)
    return text.replace("|", "\\|")


def _data_description(meta: dict[str, Any]) -> str:
    if meta.get("smoke"):
        return "smoke (DataConfig.smoke())"
    capped = meta.get("max_files")
    return f"capped at the first {capped} corpus files" if capped else "full corpus"


def render_report(metrics: dict[str, Any], rows: Sequence[Row], plots: Sequence[str] = ()) -> str:
    """The whole report.md: when, where, which checkpoint, notes on definitions, the table, then the
    plots (file names beside the report)."""
    meta = metrics.get("meta", {})
    machine = meta.get("machine", {})
    checkpoint = meta.get("checkpoint", {})
    lines = [
        "# yantra-eval report",
        "",
        f"- date: {meta.get('date')} ({meta.get('seconds')} s)",
        f"- machine: {machine.get('cpu')}, {machine.get('cores')} logical cores, {machine.get('os')}, "
        f"Python {machine.get('python')}",
        f"- data: {_data_description(meta)}, seed {meta.get('seed')}, "
        f"{meta.get('split')} split (split by package); confidence on HumanEval by grouped cross-validation",
        f"- checkpoint: {checkpoint.get('path')} (feature layout {checkpoint.get('feature_layout_version')})",
        f"- bug score: {_get(metrics, 'bugs', 'score')}",
        "- in parentheses after a bug AUROC: its 95% interval when whole test packages are drawn again with "
        "replacement (1,000 draws; one without both classes is skipped): how far it could move on other "
        "packages like these, the scorers as fitted (a retrain's spread is not in it); after the confidence "
        "AUROC, the same over HumanEval problems, each fold's fit held as it is",
    ]
    skipped = _get(metrics, "confidence", "model", "skipped")
    if skipped:
        lines.append(f"- confidence model not measured: {skipped}")
    training = checkpoint.get("training") or {}
    if training:
        lines += ["", "## Checkpoint training metadata", "", "| key | value |", "|---|---|"]
        lines += [f"| {key} | {_short(value)} |" for key, value in sorted(training.items())]
    lines += ["", "## Results", "", markdown_table(rows), ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{Path(name).stem}]({name})" for name in plots] + [""]
    return "\n".join(lines)


# --- plots ---------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_roc(path: Path, curves: dict[str, Any], title: str) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 5))
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    drawn = 0
    for name, curve in curves.items():
        if curve:
            style = "--" if name.startswith("model:") else "-"
            axes.plot(curve["fpr"], curve["tpr"], style, label=f"{name} (AUROC {curve['auroc']:.3f})")
            drawn += 1
    if not drawn:
        axes.text(0.5, 0.5, "not measurable (one class absent)", ha="center")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    """The figure as a PNG at `path`, written atomically (a run stopped mid-write leaves the old
    plot or none, never half of one), then closed."""
    try:
        write_atomically(path, lambda stream: figure.savefig(stream, format="png", dpi=100))
    finally:
        _pyplot().close(figure)


def _plot_reliability(path: Path, confidence: dict[str, Any]) -> None:
    plt = _pyplot()
    figure, (diagram, histogram) = plt.subplots(1, 2, figsize=(10, 4.5))
    diagram.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for name in ("model", "baseline"):
        table = _get(confidence, name, "reliability")
        if table:
            points = [(p, f) for p, f in zip(table["mean_probability"], table["fraction_positive"], strict=True)
                      if p is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ece = confidence[name]["ece"]
                diagram.plot(xs, ys, "o-", label=f"{name} (ECE {ece:.3f})")
    diagram.set(xlabel="mean predicted probability", ylabel="fraction passing tests", xlim=(0, 1), ylim=(0, 1),
                title="Reliability (HumanEval, out of fold)")
    diagram.legend(loc="upper left", fontsize=8)
    for key, label in (("canonical_out_of_fold", "out of fold"), ("canonical_as_shipped", "as shipped")):
        spread = confidence.get(key)
        if spread and spread.get("n"):
            edges, counts = spread["histogram"]["edges"], spread["histogram"]["counts"]
            histogram.stairs(counts, edges, label=f"{label}: mean {spread['mean']:.3f}, std {spread['std']:.3f}")
    histogram.set(xlabel="confidence", ylabel="canonical solutions", title="Confidence on canonical solutions")
    histogram.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def _is_score(key: str) -> bool:
    return any(word in key for word in ("auroc", "recall", "accuracy", "map"))


def plot_training_curves(metrics_jsonl: Path, path: Path) -> bool:
    """Plot every numeric key of a per-epoch JSONL log against the epoch; False when there is no log."""
    if not metrics_jsonl.is_file():
        return False
    records = [orjson.loads(line) for line in metrics_jsonl.read_bytes().splitlines() if line.strip()]
    records = [r for r in records if isinstance(r, dict)]
    keys = sorted({k for r in records for k, v in r.items()
                   if k not in ("epoch", "seconds") and isinstance(v, int | float) and not isinstance(v, bool)})
    if not keys:
        return False
    plt = _pyplot()
    panels = {
        "losses": [k for k in keys if k.startswith(("train_", "val_")) and not _is_score(k)],
        "held-out scores": [k for k in keys if _is_score(k)],
        "learning rate": [k for k in keys if k == "lr"],
    }
    panels = {title: names for title, names in panels.items() if names}
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for axis, (title, names) in zip(axes[0], panels.items(), strict=True):
        for key in names:
            points = [(r.get("epoch", i), r[key]) for i, r in enumerate(records)
                      if isinstance(r.get(key), int | float)]
            xs, ys = zip(*points, strict=True)
            axis.plot(xs, ys, marker=".", label=key, linestyle="--" if key.startswith("train_") else "-")
        axis.set(xlabel="epoch", title=title)
        axis.legend(fontsize=7)
    figure.suptitle(f"Training curves ({metrics_jsonl.name})")
    figure.tight_layout()
    _save(figure, path)
    return True


def write_plots(
    out: Path,
    metrics: dict[str, Any],
    bug_curves: dict[str, Any],
    confidence_curves: dict[str, Any],
    metrics_jsonl: Path,
) -> list[Path]:
    """roc_bugs.png, roc_confidence.png, reliability.png, and training_curves.png when a log exists."""
    written = [out / "roc_bugs.png", out / "roc_confidence.png", out / "reliability.png"]
    _plot_roc(written[0], bug_curves, "Bugs: clean vs buggy (test split)")
    _plot_roc(written[1], confidence_curves, "Confidence: passes its tests (HumanEval)")
    _plot_reliability(written[2], metrics.get("confidence") or {})
    if plot_training_curves(metrics_jsonl, out / "training_curves.png"):
        written.append(out / "training_curves.png")
    return written
