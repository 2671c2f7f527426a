"""Benchmark of the model alone: one function's latency and batch throughput, numpy engine vs torch.

Owns the command `python -m training.benchmarks.model_forward`. It prints the machine, then, for the
numpy engine the daemon serves with and torch eager for comparison, the median and p99 latency of
one function (a 2-node graph: module + function) with 1 thread, and throughput in functions/s at
batch 64, 256 and 1024 with 1 and 2 threads. Each thread count runs in its own child process,
because BLAS libraries read their thread count when they load. Inputs are random but shaped like
code: mostly zero, non-negative log1p-count features, mostly 2-node graphs with some 3-5-node ones.
Leaves the model to model/; times include `collate` (the per-batch index work), since a request
pays it. The one-function line also gives the forward alone, and the path `predict` takes (collate and
forward with every head but the embedding, which `predict` computes only when asked for it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from training.report import describe_machine

__all__ = ["main"]

BATCH_SIZES = (64, 256, 1024)
THREAD_COUNTS = (1, 2)
FEATURE_DENSITY = 0.2  # share of the 978 features a small function sets (measured on real code)
LATENCY_SECONDS = 2.0  # per variant; enough for thousands of single-function runs
THROUGHPUT_SECONDS = 1.0  # per batch size and variant
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--imports", type=int, default=500, help="import vocabulary size (head width)")
    parser.add_argument("--bug-kinds", type=int, default=9, help="number of bug kinds (head width)")
    parser.add_argument("--no-torch", action="store_true", help="time the numpy engine only")
    parser.add_argument("--child-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_threads:
        print(json.dumps(_measure(args, args.child_threads)))
        return
    print(_machine())
    for threads in THREAD_COUNTS:
        results = _run_child(args, threads)
        mean_nodes = results.pop("mean_nodes")
        if threads == THREAD_COUNTS[0]:
            print(f"model: {_widths()}, {args.imports} imports, {args.bug_kinds} bug kinds; inputs: "
                  f"{FEATURE_DENSITY:.0%} of features set, functions of 2-5 nodes (mean {mean_nodes:.2f})")
        _print_results(threads, results)


def _widths() -> str:
    """The default network's layer widths, as the README writes them: 978 -> 256 -> ..."""
    from model.config import ModelConfig

    config = ModelConfig()
    return " -> ".join(str(width) for width in (config.feature_dim, *config.hidden_dims))


def _run_child(args: argparse.Namespace, threads: int) -> dict:
    environment = dict(os.environ, **{name: str(threads) for name in _THREAD_VARIABLES})
    command = [sys.executable, "-m", "training.benchmarks.model_forward", "--child-threads", str(threads),
               "--imports", str(args.imports), "--bug-kinds", str(args.bug_kinds)]
    if args.no_torch:
        command.append("--no-torch")
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _measure(args: argparse.Namespace, threads: int) -> dict:
    """Everything one thread count measures, as JSON-able numbers (microseconds, functions/s)."""
    from model.batch import collate
    from model.config import ModelConfig
    from model.engine import GraphSAGEEngine

    config = ModelConfig(num_imports=args.imports, num_bug_kinds=args.bug_kinds)
    rng = np.random.default_rng(0)
    weights = _realistic_weights(config, rng)
    engine = GraphSAGEEngine(config, weights)
    one = [_function_graph(rng, nodes=2)]
    batches = {size: [_function_graph(rng) for _ in range(size)] for size in BATCH_SIZES}
    variants: dict[str, Callable[[list], object]] = {"numpy": lambda graphs: engine.forward(collate(graphs))}
    if not args.no_torch:
        variants["torch"] = _torch_forward(config, weights, threads)
    results: dict = {name: _measure_variant(forward, one, batches, threads) for name, forward in variants.items()}
    results["mean_nodes"] = float(np.mean([x.shape[0] for x, _ in batches[max(BATCH_SIZES)]]))
    if threads == 1:
        prepared = collate(one)
        forward_only = _repeat(partial(engine.forward, prepared), seconds=LATENCY_SECONDS / 2, warmup=50)
        results["numpy"]["forward_only_us"] = _median(forward_only) * 1e6
        as_predict = _repeat(lambda: engine.forward(collate(one), embedding=False), seconds=LATENCY_SECONDS / 2,
                             warmup=50)
        results["numpy"]["predict_us"] = _median(as_predict) * 1e6
    return results


def _measure_variant(forward: Callable[[list], object], one: list, batches: dict[int, list], threads: int) -> dict:
    """Latency of one function (1 thread only) and throughput at each batch size."""
    entry: dict = {"throughput": {}}
    if threads == 1:
        times = _repeat(partial(forward, one), seconds=LATENCY_SECONDS, warmup=50)
        entry["latency_us"] = {"median": _median(times) * 1e6, "p99": float(np.percentile(times, 99)) * 1e6}
    for size, graphs in batches.items():
        times = _repeat(partial(forward, graphs), seconds=THROUGHPUT_SECONDS, warmup=2, minimum=5)
        entry["throughput"][str(size)] = size / _median(times)
    return entry


def _torch_forward(config, weights: dict[str, np.ndarray], threads: int) -> Callable[[list], object]:
    import torch

    from model.batch import collate
    from model.network import GraphSAGEModel, batch_tensors

    torch.set_num_threads(threads)
    model = GraphSAGEModel(config).eval()
    model.load_numpy_weights(weights)

    def forward(graphs: list) -> object:
        with torch.inference_mode():
            return model(*batch_tensors(collate(graphs)))

    return forward


def _realistic_weights(config, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Untrained weights with the input statistics training would install."""
    from model.engine import init_weights

    weights = init_weights(config, seed=0)
    weights["feature_mean"] = (rng.random(config.feature_dim) * FEATURE_DENSITY).astype(np.float32)
    weights["feature_std"] = rng.uniform(0.2, 1.0, size=config.feature_dim).astype(np.float32)
    return weights


def _function_graph(rng: np.random.Generator, nodes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A module node plus its units: 80% one function, 15% a class and a method, 5% 4-5 units."""
    if nodes is None:
        nodes = int(rng.choice([2, 3, 4, 5], p=[0.8, 0.15, 0.03, 0.02]))
    counts = rng.poisson(1.5, size=(nodes, 978)) * (rng.random((nodes, 978)) < FEATURE_DENSITY)
    x = np.log1p(counts).astype(np.float32)
    parents = [int(rng.integers(0, child)) for child in range(1, nodes)]
    pairs = list(zip(parents, range(1, nodes), strict=True))
    edge_index = np.array(pairs + [(b, a) for a, b in pairs], dtype=np.int64).T
    return x, edge_index


def _repeat(run: Callable[[], object], *, seconds: float, warmup: int, minimum: int = 20) -> np.ndarray:
    for _ in range(warmup):
        run()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < minimum:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return np.array(times)


def _median(times: np.ndarray) -> float:
    return float(np.median(times))


def _machine() -> str:
    return f"machine: {describe_machine()}; numpy {np.__version__} ({_blas_name()})"


def _blas_name() -> str:
    try:
        config = np.show_config(mode="dicts")
        return str(config["Build Dependencies"]["blas"]["name"])
    except (TypeError, KeyError):
        return "unknown BLAS"


def _print_results(threads: int, results: dict) -> None:
    for name, entry in results.items():
        if "latency_us" in entry:
            latency = entry["latency_us"]
            extra = ""
            if "forward_only_us" in entry:
                extra = (f" (forward alone {entry['forward_only_us']:.0f} us; as `predict` runs it, without the "
                         f"embedding head unless asked: {entry['predict_us']:.0f} us)")
            print(f"{name:>5}, {threads} thread:  one function (2 nodes) median {latency['median']:.0f} us, "
                  f"p99 {latency['p99']:.0f} us{extra}")
        throughput = ", ".join(f"batch {size}: {rate:,.0f}" for size, rate in entry["throughput"].items())
        print(f"{name:>5}, {threads} thread{'s' if threads > 1 else ''}: functions/s  {throughput}")


if __name__ == "__main__":
    main()
