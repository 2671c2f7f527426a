"""The network's shape as one dataclass of plain values, and its JSON form for checkpoints.

Owns: `ModelConfig` (sizes, dropout) and the derived sizes every other module reads from it.
Leaves to others: the weights (model/engine.py, model/network.py) and where the config is stored
(model/checkpoint.py). No torch, no numpy: a checkpoint's config must be readable anywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["FEATURE_STD_FLOOR", "MAX_LAYERS", "MAX_WEIGHT_MAGNITUDE", "MAX_WIDTH", "ModelConfig"]

FEATURE_STD_FLOOR = 1e-6
"""Input normalisation divides by max(std, this): a feature that never varied must not blow up. Training
stores stds of at least training.train.TRAINING_STD_FLOOR (0.1); this guards any checkpoint."""

MAX_LAYERS = 16
MAX_WIDTH = 1 << 16
"""Bounds on a config's layers and on each of its sizes: a checkpoint's config is read before its
weights, and a list of millions of widths would make as many expected shapes (gigabytes) to check."""

MAX_WEIGHT_MAGNITUDE = 1e4
"""The largest magnitude a checkpoint's tensors and combiner weights may hold. Trained ones are a few
units (the shipped checkpoint's largest is under 10); finite values near float32's limit would
overflow on the way through the network or a combiner and come out NaN, so loading refuses them
as it refuses NaN itself (`model.sites.bounded`, and the engine's weight check). With
FEATURE_STD_FLOOR it also keeps the first layer, once the normalisation is folded in, well inside
float32 (at most about 1e4 * 1e4 / 1e-6 * 978, some 1e17)."""


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the GraphSAGE network and its four heads.

    `hidden_dims` lists each SAGE layer's output width; the last one is the node-state width the
    heads read. The vocabulary sizes are 0 until training knows its vocabularies.

    The widths are 256 because a daemon answering one function at a time reads every weight per
    request, from memory rather than cache: at 512 -> 512 -> 256 a whole prediction cost 0.25 ms more
    (1.39 against 1.15 ms median, two predictors alternating request by request), with the heads
    level on held-out data.
    """

    feature_dim: int = 978
    hidden_dims: tuple[int, ...] = (256, 256, 256)
    embedding_dim: int = 256
    num_imports: int = 0
    num_bug_kinds: int = 0
    dropout: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_dims", tuple(self.hidden_dims))
        _require_int("feature_dim", self.feature_dim, minimum=1)
        _require_int("embedding_dim", self.embedding_dim, minimum=1)
        _require_int("num_imports", self.num_imports, minimum=0)
        _require_int("num_bug_kinds", self.num_bug_kinds, minimum=0)
        if not self.hidden_dims:
            raise ValueError("hidden_dims must name at least one layer width")
        if len(self.hidden_dims) > MAX_LAYERS:
            raise ValueError(f"hidden_dims names {len(self.hidden_dims)} layers, more than {MAX_LAYERS}")
        for index, width in enumerate(self.hidden_dims):
            _require_int(f"hidden_dims[{index}]", width, minimum=1)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float):
            raise ValueError(f"dropout must be a number, got {self.dropout!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def layer_dims(self) -> list[tuple[int, int]]:
        """(input width, output width) of each SAGE layer, in order."""
        inputs = (self.feature_dim, *self.hidden_dims[:-1])
        return list(zip(inputs, self.hidden_dims, strict=True))

    @property
    def version(self) -> str:
        """The architecture as `model_info` names it, e.g. graphsage-978-256-256-256: read from the
        loaded checkpoint's config, so a checkpoint of another width says so."""
        return "-".join(["graphsage", *(str(width) for width in (self.feature_dim, *self.hidden_dims))])

    @property
    def node_dim(self) -> int:
        """Width of the final node states."""
        return self.hidden_dims[-1]

    @property
    def readout_dim(self) -> int:
        """Width of a graph's readout: mean and max pooling of node states, side by side."""
        return 2 * self.node_dim

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that `from_dict` turns back into an equal config."""
        values = asdict(self)
        values["hidden_dims"] = list(self.hidden_dims)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Rebuild a config; unknown keys are refused so a typo never silently takes a default."""
        if not isinstance(values, dict):
            raise ValueError(f"a model config must be a JSON object, got {type(values).__name__}")
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known keys are {sorted(known)}")
        arguments = dict(values)
        if "hidden_dims" in arguments:
            hidden = arguments["hidden_dims"]
            if not isinstance(hidden, list | tuple):
                raise ValueError(f"hidden_dims must be a list of widths, got {hidden!r}")
            arguments["hidden_dims"] = tuple(hidden)
        return cls(**arguments)


def _require_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if value > MAX_WIDTH:
        raise ValueError(f"{name} must be at most {MAX_WIDTH}, got {value}")
