"""Refit the bug-site scorers against a checkpoint's network and measure them: the probe behind the
README's choices of the scorers' data.

`yantra-train` fits the scorers after the network and ships both, but the scorers learn from hashed
site features alone (the network only supplies the bugs head's probability to the combiner), so a
change to how they learn (their corpus, mutants, width, epochs) can be tried without training the
network again. This takes the network of a checkpoint as it is, gathers the scorers' training
samples as `yantra-train` would for the same TrainConfig flags (`training.train.site_samples`),
fits them with `fit_site_model` (whose log prints the validation grid that chooses the blend and
the call shift), and prints the AUROC overall and per kind on the validation samples the choice was
made on (a change aimed at one kind shows there before it moves the overall figure) and on the test
split, measured as `yantra-eval` measures it. It writes nothing else. Rerun with a shipped
checkpoint's own settings (the defaults; measured against the one trained at 50a3f2e) it came within
the last digits of that checkpoint's figures, not bit for bit: its hidden scorer's one epoch ended at
loss 1.3299 where yantra-train's ended at 1.3298 (test AUROC 0.7338 against 0.7338,
swapped arguments 0.742 against 0.743), which can be enough to move a near-tie of the validation grid.

    python -m training.site_probe --site-units-per-package 400 --site-swapped-arguments 2   # before 50a3f2e
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from model.checkpoint import load_checkpoint
from model.engine import GraphSAGEEngine
from model.layout import FEATURE_LAYOUT_VERSION
from model.predictor import SHIPPED_CHECKPOINT
from training.datasets import BugSample, DataConfig, bug_samples, corpus_units, unit_packages
from training.evaluate import evaluate_bugs, score_sources
from training.sites import SiteFit, fit_site_model
from training.train import TrainConfig, chosen_samples, limit_samples, parse_config, site_samples

__all__ = ["head_probabilities", "main", "probe", "summary"]


def head_probabilities(engine: GraphSAGEEngine, samples: Sequence[BugSample]) -> np.ndarray:
    """The bugs head's strongest kind for each sample (0.5 where no graph could be built), what the
    combiner weighs beside the sites."""
    scored = score_sources(engine, [s.source for s in samples])
    head = np.full(len(samples), 0.5)
    if len(scored.kept):
        head[scored.kept] = scored.bug_probs.max(axis=1)
    return head


def probe(config: TrainConfig, checkpoint: str, log: Callable[[str], None] = print) -> tuple[dict, dict]:
    """Fit the scorers for `config` against `checkpoint`'s network; the validation samples' and the
    test split's bug metrics (as `evaluate_bugs` returns them, without its baseline)."""
    loaded = load_checkpoint(checkpoint, expected_layout_version=FEATURE_LAYOUT_VERSION)
    engine = GraphSAGEEngine(loaded.config, loaded.weights)
    data = config.data_config()
    units = corpus_units(data)
    bugs = bug_samples(data, units)
    sites = site_samples(config, units, bugs)  # as load_corpus: read once when the site corpus is the same
    train = sites.pairs + sites.extra_mutants + sites.swapped
    validation = limit_samples(chosen_samples(bugs, "validation", config), config.validation_limit, config.seed)
    log(f"site corpus: {sites.units} units, {len(train)} training samples; {len(validation)} validation samples")
    fit: SiteFit | None = fit_site_model(
        train, validation, head_probabilities(engine, validation), false_alarm_rate=config.bug_false_alarm_rate,
        seed=config.seed, epochs=config.site_epochs, hidden_width=config.site_hidden,
        hidden_epochs=config.site_hidden_epochs, log=log)
    model = fit.model if fit is not None else None
    chosen_on, _ = evaluate_bugs(engine, validation, sites=model, baseline_train_limit=0, seed=config.seed,
                                 split="validation")
    held_out = DataConfig.evaluation(seed=config.seed, cache_dir=config.cache_dir, smoke=config.smoke)
    held_out_units = corpus_units(held_out)
    metrics, _ = evaluate_bugs(engine, bug_samples(held_out, held_out_units), sites=model,
                               baseline_train_limit=0, seed=config.seed, packages=unit_packages(held_out_units))
    return chosen_on, metrics


def summary(metrics: dict, split: str = "test") -> str:
    """One line: AUROC overall, then per kind."""
    kinds = " | ".join(f"{kind} {entry['model']:.3f}" for kind, entry in sorted(metrics["auroc_by_kind"].items())
                       if entry["model"] is not None)
    return f"{split} AUROC {metrics['auroc']['model']:.4f} ({metrics['n_test']} samples) | {kinds}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.site_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT), help="whose network to keep (the shipped)")
    known, rest = parser.parse_known_args(argv)
    config = parse_config(rest)  # every TrainConfig flag, as yantra-train takes it
    started = time.perf_counter()
    chosen_on, metrics = probe(config, known.checkpoint, log=lambda message: print(message, file=sys.stderr,
                                                                                  flush=True))
    print(summary(chosen_on, "validation"))
    print(summary(metrics))
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
