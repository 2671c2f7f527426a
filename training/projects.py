"""Each corpus package as the project the daemon would index: per-sample `ImportContext`s for imports.

The daemon indexes the project a file lives in (`model.project`); here each package of the corpus
plays that project, indexed from the same discovered files the corpus came from, so that training
(the combiner's fit) and evaluation see what a host that sends `path` gets. A sample's own module is
left out of its suggestions, as the daemon leaves out the file being edited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from model.project import ImportContext, ProjectIndex
from training.corpus import CorpusOptions, SourceFile, corpus_files
from training.datasets import DataConfig, ImportSample

__all__ = ["package_projects", "sample_contexts"]


def package_projects(config: DataConfig, packages: Iterable[str]) -> dict[str, ProjectIndex]:
    """A ProjectIndex per named package, from the files the corpus discovers for it."""
    wanted = set(packages)
    by_package: dict[str, list[SourceFile]] = {}
    for source in corpus_files(CorpusOptions(config.roots, config.max_files)):
        if source.package in wanted:
            by_package.setdefault(source.package, []).append(source)
    return {package: _index(sources) for package, sources in by_package.items()}


def _index(sources: list[SourceFile]) -> ProjectIndex:
    first = sources[0]
    depth = len(first.module.split(".")) - (first.path.name != "__init__.py")
    root = first.path.parents[depth]  # the directory the package is imported from
    return ProjectIndex.from_modules(_texts(sources), root=root)


def _texts(sources: Sequence[SourceFile]) -> Iterable[tuple[str, str, bool]]:
    for source in sources:
        try:
            text = source.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        yield source.module, text, source.path.name == "__init__.py"


def sample_contexts(samples: Sequence[ImportSample], projects: dict[str, ProjectIndex]) -> list[ImportContext | None]:
    """What its package offers each sample (None for a package without files, or a sample without a path)."""
    contexts: list[ImportContext | None] = []
    for sample in samples:
        index = projects.get(sample.group)
        # the sample's file on disk still holds the imports taken from the sample: they are the labels
        contexts.append(index.context(sample.source, Path(sample.path), file_imports=False)
                        if index and sample.path else None)
    return contexts
