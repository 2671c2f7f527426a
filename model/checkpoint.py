"""The checkpoint format: weights plus everything needed to rebuild and trust them, in one file.

Owns: `save_checkpoint` (atomic write of one .safetensors file) and `load_checkpoint` (which checks
everything and says exactly what is wrong), and the format's name and version. The file is a
safetensors file: its tensors are the weights named as `model.engine.expected_shapes` says (and,
optionally, the bug-site scorer's under the prefix "bug_sites.", see model/sites.py, and the
confidence scorer's under "confidence_sites.", see model/confidence.py), and its header
metadata holds, under the single key "yantra", a JSON object with the format name and
version, the model config, the vocabularies ("imports", "bug_kinds"), the feature-layout version
and the training metadata (data, metrics, when, which commit).

Loading never executes code from the file: the header is JSON and the tensors are raw bytes
(safetensors), never pickle. Leaves to others: which layout version is current
(model/layout.py, passed in by the caller), choosing which checkpoint to load
(model/predictor.py), and producing the weights (training/). No torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as encode_tensors

from model.config import ModelConfig
from model.engine import weight_problems
from model.errors import CheckpointError

__all__ = [
    "CONFIDENCE_PREFIX",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "SITE_PREFIX",
    "VOCABULARY_KEYS",
    "Checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "write_atomically",
]

FORMAT_NAME = "yantra-bridge/graphsage"
FORMAT_VERSION = 1
METADATA_KEY = "yantra"
VOCABULARY_KEYS = {"imports": "num_imports", "bug_kinds": "num_bug_kinds"}
"""Each vocabulary and the config field that must equal its length."""

SITE_PREFIX = "bug_sites."
"""Tensors of the bug-site scorer (model/sites.py) are stored under this prefix; a checkpoint may lack them."""

CONFIDENCE_PREFIX = "confidence_sites."
"""Tensors of the confidence scorer (model/confidence.py); a checkpoint may lack them."""

_HEADER_SIZE_BYTES = 8  # safetensors: little-endian u64 header length, then the JSON header
_MAX_HEADER_BYTES = 100 * 1024 * 1024
_MAX_CHECKPOINT_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Checkpoint:
    """A loaded, checked checkpoint: enough to build a `GraphSAGEEngine` and explain its outputs."""

    path: Path
    config: ModelConfig
    weights: dict[str, np.ndarray]
    vocabularies: dict[str, list[str]]
    feature_layout_version: str
    training: dict[str, Any]
    site_weights: dict[str, np.ndarray] = field(default_factory=dict)
    """The bug-site scorer's tensors, without their prefix; empty when the file has none."""
    confidence_weights: dict[str, np.ndarray] = field(default_factory=dict)
    """The confidence scorer's tensors, without their prefix; empty when the file has none."""
    digest: str = ""
    """The SHA-256 of the bytes read: which checkpoint this is, whatever its path holds later."""


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    weights: dict[str, np.ndarray],
    config: ModelConfig,
    vocabularies: dict[str, list[str]],
    feature_layout_version: str,
    training: dict[str, Any],
    site_weights: dict[str, np.ndarray] | None = None,
    confidence_weights: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a checkpoint atomically and return its path.

    Everything is checked first, so a file this writes always loads. The bytes go to a temporary
    file in the same directory, which is flushed, fsynced and then renamed over `path`: a crash at
    any point leaves either the old file or the new one, never a torn one, and no temporary file.
    """
    target = Path(path)
    problems = weight_problems(config, weights) + _vocabulary_problems(vocabularies, config)
    if not isinstance(feature_layout_version, str) or not feature_layout_version:
        problems.append("feature_layout_version must be a non-empty string")
    if problems:
        raise CheckpointError(f"refusing to save {target}: " + "; ".join(problems), path=str(target))
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "vocabularies": {key: list(vocabularies[key]) for key in VOCABULARY_KEYS},
        "feature_layout_version": feature_layout_version,
        "training": training,
    }
    try:
        header = json.dumps(metadata, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"refusing to save {target}: training metadata is not plain JSON ({exc})", path=str(target)
        ) from exc
    tensors = {name: np.ascontiguousarray(value) for name, value in weights.items()}
    for prefix, extra in ((SITE_PREFIX, site_weights), (CONFIDENCE_PREFIX, confidence_weights)):
        tensors |= {prefix + name: np.ascontiguousarray(value) for name, value in (extra or {}).items()}
    payload = encode_tensors(tensors, metadata={METADATA_KEY: header})
    write_atomically(target, payload)
    return target


def load_checkpoint(path: str | os.PathLike[str], *, expected_layout_version: str | None) -> Checkpoint:
    """Read and check a checkpoint; raise `CheckpointError` saying exactly what is wrong.

    `expected_layout_version` is the feature layout this code extracts; None skips that check
    (for tools that only inspect a file).
    """
    source = Path(path)
    data = _read_bytes(source)
    metadata = _read_metadata(source, data)
    config = _read_config(source, metadata)
    layout = metadata.get("feature_layout_version")
    if not isinstance(layout, str):
        _fail(source, "metadata has no feature_layout_version string")
    if expected_layout_version is not None and layout != expected_layout_version:
        _fail(source, f"feature layout version {layout!r} but this code expects {expected_layout_version!r}")
    vocabularies = metadata.get("vocabularies")
    problems = _vocabulary_problems(vocabularies, config)
    if problems:
        _fail(source, "; ".join(problems))
    training = metadata.get("training")
    if not isinstance(training, dict):
        _fail(source, "metadata has no training object")
    weights = _read_weights(source, data)
    site_weights = _pop_prefixed(weights, SITE_PREFIX)
    confidence_weights = _pop_prefixed(weights, CONFIDENCE_PREFIX)
    problems = weight_problems(config, weights)
    if problems:
        _fail(source, "; ".join(problems))
    return Checkpoint(
        path=source,
        config=config,
        weights=weights,
        vocabularies={key: list(vocabularies[key]) for key in VOCABULARY_KEYS},
        feature_layout_version=layout,
        training=training,
        site_weights=site_weights,
        confidence_weights=confidence_weights,
        digest=hashlib.sha256(data).hexdigest(),
    )


def _pop_prefixed(weights: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """Remove the tensors named `prefix`... from `weights` and return them without the prefix."""
    names = [name for name in weights if name.startswith(prefix)]
    return {name.removeprefix(prefix): weights.pop(name) for name in names}


def write_atomically(target: Path, payload: bytes | Callable[[BinaryIO], object]) -> None:
    """Write `payload` to `target` so that a reader, or a crash, never sees half a file: a temporary file
    beside it, flushed to disk, renamed over it, and the rename flushed too (readable by all, 0644).
    `payload` may be a function that writes to the open file instead (a large table streamed rather
    than held twice in memory)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            if isinstance(payload, bytes):
                stream.write(payload)
            else:
                payload(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes 0600, and a checkpoint shipped in a package must be readable
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; some platforms cannot open a directory, which is fine."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _read_bytes(source: Path) -> bytes:
    """The file's bytes; only a regular file of at most _MAX_CHECKPOINT_BYTES is read (a named pipe
    or a device would block or never end, and the daemon reloads on a host's word)."""
    try:
        status = source.stat()
        if stat.S_ISDIR(status.st_mode):
            _fail(source, "is a directory, not a checkpoint file")
        if not stat.S_ISREG(status.st_mode):
            _fail(source, "is not a regular file")
        if status.st_size > _MAX_CHECKPOINT_BYTES:
            _fail(source, f"{status.st_size} bytes, more than the {_MAX_CHECKPOINT_BYTES} a checkpoint may have")
        return source.read_bytes()
    except FileNotFoundError:
        _fail(source, "no such file")
    except ValueError as exc:  # a path holding a NUL byte
        _fail(source, f"not a usable path ({exc})")
    except OSError as exc:
        _fail(source, f"cannot be read ({exc.strerror or exc})")


def _read_metadata(source: Path, data: bytes) -> dict[str, Any]:
    """The "yantra" JSON object from the safetensors header, checked for our format name and version."""
    if len(data) < _HEADER_SIZE_BYTES:
        _fail(source, f"not a safetensors file: {len(data)} bytes, too short for a header")
    (header_size,) = struct.unpack("<Q", data[:_HEADER_SIZE_BYTES])
    if header_size > min(len(data) - _HEADER_SIZE_BYTES, _MAX_HEADER_BYTES):
        _fail(source, f"not a safetensors file: header length {header_size}, file size {len(data)} bytes")
    try:
        header = json.loads(data[_HEADER_SIZE_BYTES : _HEADER_SIZE_BYTES + header_size])
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nested beyond the stack
        _fail(source, f"not a safetensors file: corrupt header ({type(exc).__name__}: {exc})")
    if not isinstance(header, dict):
        _fail(source, "not a safetensors file: the header is not a JSON object")
    header_metadata = header.get("__metadata__")
    raw = header_metadata.get(METADATA_KEY) if isinstance(header_metadata, dict) else None
    if not isinstance(raw, str):
        _fail(source, f'not a yantra checkpoint: no "{METADATA_KEY}" metadata in the header')
    try:
        metadata = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        _fail(source, f"corrupt checkpoint metadata: not JSON, or nested too deeply ({type(exc).__name__}: {exc})")
    if _LONE_SURROGATE_ESCAPE.search(raw) and not _is_text(source, metadata):
        _fail(source, "corrupt checkpoint metadata: a string holds a lone surrogate (\\ud800-\\udfff), "
                      "which no reply could carry")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        _fail(source, f"wrong format {found!r}: expected {FORMAT_NAME!r}")
    if metadata.get("format_version") != FORMAT_VERSION:
        _fail(
            source,
            f"format version {metadata.get('format_version')!r} but this code reads version {FORMAT_VERSION}",
        )
    return metadata


_LONE_SURROGATE_ESCAPE = re.compile("\\\\u[dD][89a-fA-F]|[\ud800-\udfff]")
"""An escaped UTF-16 surrogate (a pair's half, as an emoji is written, or a lone one), or a surrogate
the header's own escapes put in the text: only then are the strings checked."""


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (save_checkpoint never writes them): no reply could carry one."""
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    """A number beyond a double's range (`1e400`) reads as infinite, which no reply could carry either."""
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError(f"{literal} is not a finite number")
    return number


def _is_text(source: Path, value: Any) -> bool:
    """Whether every string in `value` can be written as UTF-8 (no lone surrogate)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except RecursionError:  # read at a depth json.loads managed, but too deep to write back
        _fail(source, "corrupt checkpoint metadata: nested too deeply")
    return True


def _read_config(source: Path, metadata: dict[str, Any]) -> ModelConfig:
    try:
        return ModelConfig.from_dict(metadata.get("config"))
    except (TypeError, ValueError) as exc:
        _fail(source, f"invalid model config: {exc}")


def _read_weights(source: Path, data: bytes) -> dict[str, np.ndarray]:
    try:
        return load_tensors(data)
    except (SafetensorError, ValueError, TypeError) as exc:
        _fail(source, f"corrupt tensor data: {exc}")
    except KeyError as exc:  # a dtype safetensors' reader accepts and numpy has not (BF16, F8_*)
        _fail(source, f"a tensor's dtype {exc} is not one numpy reads")


def _vocabulary_problems(vocabularies: object, config: ModelConfig) -> list[str]:
    if not isinstance(vocabularies, dict):
        return ["vocabularies must be an object with keys " + ", ".join(VOCABULARY_KEYS)]
    problems = [f'missing vocabulary "{key}"' for key in VOCABULARY_KEYS if key not in vocabularies]
    problems += [f'unexpected vocabulary "{key}"' for key in vocabularies if key not in VOCABULARY_KEYS]
    for key, size_field in VOCABULARY_KEYS.items():
        if key not in vocabularies:
            continue
        words = vocabularies[key]
        expected = getattr(config, size_field)
        if not isinstance(words, list | tuple) or not all(isinstance(word, str) for word in words):
            problems.append(f'vocabulary "{key}" must be a list of strings')
        elif len(words) != expected:
            problems.append(f'vocabulary "{key}" has {len(words)} entries, config {size_field} is {expected}')
        elif len(set(words)) != len(words):
            problems.append(f'vocabulary "{key}" has duplicate entries')
    return problems


def _fail(source: Path, reason: str) -> NoReturn:
    raise CheckpointError(f"cannot load checkpoint {source}: {reason}", path=str(source))
