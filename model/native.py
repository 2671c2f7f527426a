"""Whether the feature extractor runs compiled, and whether a compiled build still matches its source.

setup.py compiles `model.hashing`, `model.scan`, `model.features` and `model.sites` with mypyc when it can. A
compiled module shadows its `.py` file, so an edited source does nothing until the package is
rebuilt; this module tells, by comparing each source with the digest the build recorded (the
benchmarks print it, the daemon logs it, a test fails on it).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EXTRACTOR_MODULES",
    "SOURCES_RECORD",
    "ExtractorBuild",
    "extractor_build",
    "extractor_digest",
    "source_digest",
]

EXTRACTOR_MODULES = ("model.hashing", "model.scan", "model.features", "model.sites")


@dataclass(frozen=True)
class ExtractorBuild:
    compiled: tuple[str, ...]
    stale: tuple[str, ...]
    """Compiled modules whose source changed after the build: rebuild with `pip install -e .`."""

    def describe(self) -> str:
        if not self.compiled:
            return "pure Python"
        kind = "compiled with mypyc" if len(self.compiled) == len(EXTRACTOR_MODULES) else (
            "partly compiled with mypyc (" + ", ".join(self.compiled) + ")")
        if self.stale:
            return f"{kind}, STALE ({', '.join(self.stale)} edited since): rebuild with `pip install -e .`"
        return kind


SOURCES_RECORD = Path(__file__).with_name("compiled_sources.json")
"""Written by setup.py's build: the `source_digest` of each source it compiled."""


def source_digest(path: Path) -> str:
    """What the build records of a source, and what staleness is judged by."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extractor_build() -> ExtractorBuild:
    """Which extractor modules are compiled, and which of those no longer match their source."""
    recorded = _recorded_digests()
    compiled, stale = [], []
    for name in EXTRACTOR_MODULES:
        path, source = _module_files(name)
        if path.suffix == ".py":
            continue
        compiled.append(name)
        if source.is_file() and recorded.get(name) != source_digest(source):
            stale.append(name)
    return ExtractorBuild(tuple(compiled), tuple(stale))


def extractor_digest() -> str:
    """One digest of the sources that decide a graph's features: the extractor modules and
    `model.graph` and `model.layout` around them (a module's compiled file where its source is not
    installed). A cache of built graphs is keyed by it, so a fix that keeps the layout version still
    rebuilds it, while recompiling unchanged sources does not."""
    digest = hashlib.sha256()
    for name in ("model.graph", "model.layout", *EXTRACTOR_MODULES):
        path, source = _module_files(name)
        digest.update(source_digest(source if source.is_file() else path).encode())
    return digest.hexdigest()


def _module_files(name: str) -> tuple[Path, Path]:
    """(the file a module was imported from, compiled or not; its `.py` source beside it)."""
    path = Path(importlib.import_module(name).__file__ or "")
    return path, path.with_name(name.rsplit(".", 1)[1] + ".py")


def _recorded_digests() -> dict[str, str]:
    try:
        record = json.loads(SOURCES_RECORD.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
