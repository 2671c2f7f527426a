"""One `ast.parse` at a time across the daemon's threads (CPython 3.11's python/cpython#106905).

CPython 3.11 keeps the AST constructor's recursion depth in state shared by all threads; a thread
switch inside one conversion (a GC finalizer running Python code, say) while another thread parses
raises "SystemError: AST constructor recursion depth mismatch". The daemon parses requests on its
lanes and projects' modules on the index thread, so every parse of the model package goes through
`parse`: serialised (the GIL serialises parses anyway, so nothing waits longer than it would), and
retried once should a parse by a caller outside this module still hit the error.
"""

from __future__ import annotations

import ast
import threading

__all__ = ["parse"]

_LOCK = threading.Lock()


def parse(source: str) -> ast.Module:
    """`ast.parse(source)`, serialised with every other parse here; SyntaxError and the rest as it raises them."""
    with _LOCK:
        try:
            return ast.parse(source)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc):
                raise
            return ast.parse(source)
