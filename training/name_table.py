"""The name table behind import suggestions: which module each name is imported from in training code.

Owns: reading every import statement of the training split's files (not only the units sampled for
the import task, which hold a fifth of them at most: 400 units a package) and counting each import
line once per package that has it. Leaves to others: the samples and their labels
(training/datasets.py, training/imports.py), the table's use (model/imports.py ranks with it, the
Predictor writes lines with `statement_tables`' aliases and names) and the dictionary baseline built
from the same lines (training/baselines.py).

Which lines: those two packages or more have, and those the sampled units really use (see
`table_lines`). Why once per package: counted per line, one package that imports a name from its
own module in hundreds of files decides the name for everyone (`pi` from `sympy.core.numbers`, `log`
from `distutils`, `Type` from `torchgen.model`); per package, the modules many packages use win
(`math`, `typing`). Why not parse whole files: the statements are found by their first line and
parsed alone, 2-3 s for the 6,000 files of the full corpus where parsing them whole takes minutes.
An import line inside a string (a docstring's example) is read as code too: rare, and training code.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Container, Iterable
from pathlib import Path

from training.baselines import statement_bindings
from training.corpus import CorpusOptions, SourceFile, corpus_files, split_of
from training.datasets import DataConfig, ImportSample
from training.imports import ImportUse, import_bindings

__all__ = ["name_table_lines", "package_import_lines", "table_lines", "text_import_uses"]

_IMPORT_START = re.compile(r"^[ \t]*(?:from[ \t]+\.*[\w.]*[ \t]+import\b|import[ \t]+\w)", re.MULTILINE)
"""The first line of an import statement, at any indentation (`from . import x` included)."""


def text_import_uses(text: str, package: str | None) -> list[ImportUse]:
    """The bindings of every import statement that starts a line of `text`, at any indentation
    (relative ones resolved against `package`, the dotted package of the file). A statement runs to
    its closing parenthesis, or on past lines ending in a backslash; one that does not parse alone,
    or holds more than one statement (`import a; import b`), is skipped, and so is one after a
    colon on its line (`try: import ujson`) or a parenthesis in a comment inside its list."""
    uses: list[ImportUse] = []
    for match in _IMPORT_START.finditer(text):
        node = _statement_at(text, match.start())
        if node is not None:
            uses.extend(import_bindings(node, package))
    return uses


def _statement_at(text: str, start: int) -> ast.Import | ast.ImportFrom | None:
    end = _line_end(text, start)
    if "(" in text[start:end]:
        close = text.find(")", start)
        end = _line_end(text, close) if close >= 0 else end
    while text[start:end].rstrip().endswith("\\") and end < len(text):
        end = _line_end(text, end + 1)
    try:
        body = ast.parse(text[start:end].strip()).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return body[0] if len(body) == 1 and isinstance(body[0], ast.Import | ast.ImportFrom) else None


def _line_end(text: str, position: int) -> int:
    end = text.find("\n", position)
    return len(text) if end < 0 else end


def package_import_lines(config: DataConfig) -> list[tuple[str, str]]:
    """(package, import line) for each distinct line, one per bound name as `ImportUse.statement`
    writes it (`from a import b`, `import a.b as c`), in the files of the corpus `config` describes
    whose package is in the training split; sorted."""
    options = CorpusOptions(config.roots, config.max_files, config.max_units_per_package)
    found: set[tuple[str, str]] = set()
    for file in corpus_files(options):
        if split_of(file.package, seed=config.seed) == "train":
            text = _read(file.path)
            found.update((file.package, use.statement) for use in text_import_uses(text, _dotted_package(file)))
    return sorted(found)


def name_table_lines(config: DataConfig, samples: Iterable[ImportSample]) -> list[str]:
    """The lines the shipped name table counts, from the corpus `config` describes and its import
    `samples` (the training split's are read): what `yantra-train` builds the table from and
    `yantra-eval` fits the dictionary on, so that both read the same lines."""
    used = {statement for sample in samples if sample.split == "train" for statement in sample.statements}
    return table_lines(package_import_lines(config), used)


def table_lines(pairs: Iterable[tuple[str, str]], used: Container[str]) -> list[str]:
    """The lines the name table counts, once per package that has it: those at least two packages
    have, and those some training sample really uses (`used`, its statements) unless the line
    imports the package's own module. A line only one package has is its own business: counted,
    such lines made up most of the table and swayed the combiner fitted on it toward ignoring the
    table (measured: see docs/experiments.md). And a package's import of its own module (`from .log
    import logger` in asyncio, `from xmlrpc.client import dumps` in xmlrpc) is no answer for other
    code, whose own modules the project index knows: it gave `logger` asyncio's."""
    pairs = list(pairs)
    packages = Counter(line for _, line in pairs)
    return [line for package, line in pairs
            if packages[line] >= 2 or (line in used and not _imports_own_package(line, package))]


def _imports_own_package(line: str, package: str) -> bool:
    return any(module.partition(".")[0] == package for _, module in statement_bindings(line))


def _dotted_package(file: SourceFile) -> str:
    """What the file's relative imports resolve against, as the corpus resolves its units' own."""
    return file.module if file.path.name == "__init__.py" else file.module.rpartition(".")[0]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
