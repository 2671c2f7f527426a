"""Helpers shared by test packages: a checkpoint on disk, in the real format, from a few lines; the id
model/sites.py gives a site feature text."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from model.checkpoint import save_checkpoint
from model.config import ModelConfig
from model.engine import init_weights
from model.layout import FEATURE_LAYOUT_VERSION
from model.sites import SITE_BUCKETS
from model.vocabulary import BUG_KINDS


def write_checkpoint(
    path: Path, imports: Sequence[str], *, seed: int = 0, training: Mapping[str, Any] | None = None,
    site_weights: Mapping[str, Any] | None = None, confidence_weights: Mapping[str, Any] | None = None,
    **sizes: Any
) -> Path:
    """Save `init_weights(config, seed=seed)` at `path` (parent folders made) and return the path.

    The config has ModelConfig's default sizes unless `sizes` (ModelConfig fields: hidden_dims,
    embedding_dim, ...) say otherwise, one import head per entry of `imports` and one bug head per
    bug kind. `training` is the metadata stored with it; by default {"trained": True, "note": "seed N"},
    so a predictor treats it as trained (pass {"trained": False} for one it must treat as untrained).
    `site_weights` are a bug-site scorer's tensors (model/sites.py; describe it in `training["bug_sites"]`),
    `confidence_weights` a confidence scorer's (model/confidence.py; `training["confidence_sites"]`).
    """
    config = ModelConfig(num_imports=len(imports), num_bug_kinds=len(BUG_KINDS), **sizes)
    return save_checkpoint(
        path, weights=init_weights(config, seed=seed), config=config,
        vocabularies={"imports": list(imports), "bug_kinds": list(BUG_KINDS)},
        feature_layout_version=FEATURE_LAYOUT_VERSION,
        training=dict(training) if training is not None else {"trained": True, "note": f"seed {seed}"},
        site_weights=dict(site_weights) if site_weights is not None else None,
        confidence_weights=dict(confidence_weights) if confidence_weights is not None else None,
    )


def feature_id(text: str) -> int:
    """The bucket model/sites.py hashes a site feature text into (CRC32, masked)."""
    return zlib.crc32(text.encode()) & (SITE_BUCKETS - 1)
