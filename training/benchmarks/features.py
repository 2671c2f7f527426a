"""`python -m training.benchmarks.features`: how long code -> graph -> 978-d features takes.

Measures, on real standard-library functions of 25 to 35 lines (the issue's "30-line function"),
the median and p99 of: `ast.parse` alone (the floor of any pure-`ast` design), feature extraction
of the parsed tree (walk + vectors + edges), finding and hashing its bug sites (model/sites.py), and
the whole `build_graph` the daemon calls (parse + features + sites); then what the bug sites cost a
whole prediction: `Predictor.predict_sources` one function at a time with the shipped checkpoint,
the same checkpoint saved without its confidence scorer, and without either site scorer, in
alternating rounds. Prints
the machine and the extractor build (compiled by setup.py, or pure Python) beside the figures; with a
compiled build it measures the pure-Python sources too, in a child process, so the ratio comes from
one run. Numbers on a shared machine are noisy, ratios less so.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from model.checkpoint import load_checkpoint, save_checkpoint
from model.features import unit_vectors
from model.graph import build_graph, unit_edges
from model.native import extractor_build
from model.predictor import SHIPPED_CHECKPOINT, Predictor
from model.scan import scan_units
from model.sites import find_sites
from training.report import describe_machine

__all__ = ["main", "thirty_line_functions"]


def thirty_line_functions(limit: int = 200, low: int = 25, high: int = 35) -> list[str]:
    """Dedented functions of `low`..`high` lines from the standard library, in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found: list[str] = []
    for path in sorted(root.glob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        lines = source.splitlines(keepends=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and low <= node.end_lineno - node.lineno + 1 <= high:
                found.append(textwrap.dedent("".join(lines[node.lineno - 1: node.end_lineno])))
                if len(found) >= limit:
                    return found
    return found


def _time(fn: Callable[[str], object], sources: list[str], rounds: int) -> list[float]:
    for source in sources[:20]:
        fn(source)
    samples = []
    for _ in range(rounds):
        for source in sources:
            started = time.perf_counter()
            fn(source)
            samples.append(time.perf_counter() - started)
    return samples


def _extract(tree_and_source: tuple[ast.Module, str]) -> None:
    tree, source = tree_and_source
    units, context = scan_units(tree, source)
    unit_vectors(units, context)
    unit_edges(units)


def _line(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    return f"{name:<34} median {statistics.median(samples) * 1e3:7.3f} ms   p99 {p99 * 1e3:7.3f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-pure", action="store_true",
                        help="with a compiled extractor, skip measuring its pure-Python sources beside it")
    args = parser.parse_args(argv)
    sources = thirty_line_functions()
    parsed = {s: ast.parse(s) for s in sources}
    build = extractor_build()
    print(f"machine: {describe_machine()}")
    print(f"{len(sources)} standard-library functions of 25-35 lines, {args.rounds} rounds each")
    print(f"extractor: {build.describe()}")
    print(_line("ast.parse (floor)", _time(ast.parse, sources, args.rounds)))
    print(_line("features of a parsed function", _time(lambda s: _extract((parsed[s], s)), sources, args.rounds)))
    print(_line("bug sites of a parsed function", _time(lambda s: find_sites(parsed[s]), sources, args.rounds)))
    print(_line("build_graph (all of it)", _time(build_graph, sources, args.rounds)))
    _print_site_cost(sources, args.rounds)
    if build.compiled and not args.no_pure:
        print("the same sources run as pure Python, in this run:")
        sys.stdout.flush()
        _run_pure(args.rounds)
    return 0


def _print_site_cost(sources: list[str], rounds: int) -> None:
    """Median prediction time per round with both site scorers, without the confidence scorer, and
    without either (no sites are then found), rounds alternating."""
    with tempfile.TemporaryDirectory() as directory:
        predictors = {"shipped": Predictor(SHIPPED_CHECKPOINT),
                      "no confidence": Predictor(_without(SHIPPED_CHECKPOINT, Path(directory), {"confidence_sites"})),
                      "no site scorer": Predictor(_without(SHIPPED_CHECKPOINT, Path(directory),
                                                           {"confidence_sites", "bug_sites"}))}
        for predictor in predictors.values():
            predictor.load()  # (each round's `_time` warms it on 20 sources first)
        medians: dict[str, list[float]] = {name: [] for name in predictors}
        for _ in range(rounds):
            for name, predictor in predictors.items():
                samples = _time(lambda s, p=predictor: p.predict_sources([s]), sources, 1)
                medians[name].append(statistics.median(samples) * 1e3)
    print("predict_sources, one function at a time, median per round (shipped checkpoint):")
    for name, values in medians.items():
        print(f"  {name:<16} " + " ".join(f"{v:.3f}" for v in values) + " ms")
    shipped, no_confidence, none = medians.values()
    for what, more, less in (("the confidence scorer adds", shipped, no_confidence),
                             ("bug sites (found, scored) add", no_confidence, none)):
        added = [a - b for a, b in zip(more, less, strict=True)]
        ratios = [a / b for a, b in zip(more, less, strict=True)]
        print(f"  {what} {statistics.median(added):.3f} ms a prediction (median over rounds), "
              f"x{statistics.median(ratios):.2f}")


def _without(path: Path, directory: Path, scorers: set[str]) -> Path:
    """A copy of the checkpoint at `path` without the named site scorers ("bug_sites": the bugs head
    reports alone; "confidence_sites": the network's head gives confidence)."""
    checkpoint = load_checkpoint(path, expected_layout_version=None)
    training = {key: value for key, value in checkpoint.training.items() if key not in scorers}
    keep = {"site_weights": checkpoint.site_weights if "bug_sites" not in scorers else None,
            "confidence_weights": checkpoint.confidence_weights if "confidence_sites" not in scorers else None}
    return save_checkpoint(directory / f"without_{'_'.join(sorted(scorers))}.safetensors",
                           weights=checkpoint.weights, config=checkpoint.config,
                           vocabularies=checkpoint.vocabularies,
                           feature_layout_version=checkpoint.feature_layout_version, training=training, **keep)


def _run_pure(rounds: int) -> None:
    """This benchmark again in a child process that imports `model` from a copy without compiled modules."""
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as directory:
        shutil.copytree(root / "model", Path(directory) / "model", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
        path = os.pathsep.join([directory, str(root), os.environ.get("PYTHONPATH", "")])
        code = f"from training.benchmarks.features import _pure_lines; _pure_lines({rounds})"
        subprocess.run([sys.executable, "-c", code], cwd=directory, env={**os.environ, "PYTHONPATH": path}, check=True)


def _pure_lines(rounds: int) -> None:
    """The extraction lines alone, for `_run_pure`'s child."""
    assert not extractor_build().compiled, "the child process should import the pure-Python extractor"
    sources = thirty_line_functions()
    parsed = {s: ast.parse(s) for s in sources}
    print(_line("  features of a parsed function", _time(lambda s: _extract((parsed[s], s)), sources, rounds)))
    print(_line("  bug sites of a parsed function", _time(lambda s: find_sites(parsed[s]), sources, rounds)))
    print(_line("  build_graph (all of it)", _time(build_graph, sources, rounds)))


if __name__ == "__main__":
    raise SystemExit(main())
