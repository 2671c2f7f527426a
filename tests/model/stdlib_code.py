"""Real code for model tests: standard-library files and the functions inside them.

It imports nothing else from tests/, so a child process can import it from a copy of just this file and
the package __init__ files above it (tests/model/test_native.py does, to run the pure-Python extractor).
"""

from __future__ import annotations

import ast
import hashlib
import sysconfig
import textwrap
from functools import cache
from pathlib import Path

from model.graph import build_graph

STDLIB = Path(sysconfig.get_paths()["stdlib"])
FILES = (
    "json/encoder.py", "textwrap.py", "argparse.py", "collections/__init__.py", "email/utils.py",
    "shlex.py", "fractions.py", "statistics.py", "difflib.py", "heapq.py", "bisect.py", "csv.py",
    "string.py", "calendar.py", "dataclasses.py", "functools.py",
)


@cache
def stdlib_sources() -> tuple[str, ...]:
    return tuple((STDLIB / name).read_text(encoding="utf-8") for name in FILES)


@cache
def stdlib_functions(limit: int = 400) -> tuple[str, ...]:
    """Function and method sources (decorators included, dedented), as an editor would send them."""
    found: list[str] = []
    for source in stdlib_sources():
        lines = source.splitlines(keepends=True)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                found.append(textwrap.dedent("".join(lines[first - 1: node.end_lineno])))
                if len(found) >= limit:
                    return tuple(found)
    return tuple(found)


def features_digest() -> str:
    """SHA-256 over the feature matrices, edge lists and bug sites of 150 functions and 4 whole files:
    equal digests mean two builds of the extractor compute the same bits."""
    digest = hashlib.sha256()
    for source in (*stdlib_functions(150), *stdlib_sources()[:4]):
        graph = build_graph(source)
        digest.update(graph.features.tobytes())
        digest.update(graph.edge_index.tobytes())
        sites = graph.sites
        assert sites is not None
        for part in (sites.types, sites.lines, sites.columns, sites.sizes, sites.ids):
            digest.update(repr(part).encode())
    return digest.hexdigest()
