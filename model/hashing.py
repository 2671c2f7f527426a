"""Stable hashing of code strings into feature ranges, and the name splitting the features share.

Owns `stable_hash` (CRC32: the same across processes, unlike `hash()`), `subtokens` (snake_case and
camelCase split), `Hashed` (a range of the layout that a string folds into, memoised) with one
instance per hashed range, and `Memo`. What the ranges mean is `model.layout`'s; who fills them is
`model.scan`'s (while walking) and `model.features`' (when turning units into vectors).
"""

from __future__ import annotations

import builtins
import re
import zlib
from typing import Any, Final

from model.layout import span

__all__ = [
    "BUILTIN_NAMES",
    "CACHE_LIMIT",
    "H_AVAILABLE",
    "H_BASES",
    "H_BUILTIN",
    "H_CALLARG",
    "H_CALLEE",
    "H_CLASS",
    "H_CONTROL",
    "H_DECORATOR",
    "H_FIRST",
    "H_FREE",
    "H_FREE_ATTR",
    "H_IDENT",
    "H_IMPORTED",
    "H_LAST",
    "H_MODULE_DEFS",
    "H_NAME",
    "H_OPCTX",
    "H_PARENT_CHILD",
    "H_ROLE",
    "H_STMT_BIGRAM",
    "H_STMT_CHILD",
    "H_STMT_DEPTH",
    "MAX_REMEMBERED_LENGTH",
    "Hashed",
    "Memo",
    "remember",
    "stable_hash",
    "subtokens",
]

_SUBTOKEN_CACHE: Final[dict[str, tuple[str, ...]]] = {}
CACHE_LIMIT: Final = 200_000
MAX_REMEMBERED_LENGTH: Final = 80
"""Longer texts (long names, as hostile code may hold: a million characters each) are computed each
time and never kept, so the memo tables stay a few MB whatever comes in (CACHE_LIMIT entries alone
would not bound their keys)."""
_CAMEL: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
BUILTIN_NAMES: Final = frozenset(dir(builtins))


def stable_hash(text: str) -> int:
    """CRC32 of the text: stable across processes, unlike `hash()` (its callers memoise it)."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def subtokens(name: str) -> tuple[str, ...]:
    """`parseHTTPResponse_v2` -> ('parse', 'http', 'response', 'v', '2')."""
    tokens = _SUBTOKEN_CACHE.get(name)
    if tokens is None:
        parts: list[str] = []
        for piece in name.split("_"):
            if piece:
                parts.extend(m.lower() for m in _CAMEL.findall(piece))
        tokens = remember(_SUBTOKEN_CACHE, name, tuple(parts) or (name.lower() or "_",))
    return tokens


def remember(table: dict, key: object, value: Any) -> Any:
    """Keep `value` under `key` in a memo table and return it: the one rule of every memo here. A key
    with a text over MAX_REMEMBERED_LENGTH is not kept; a table past CACHE_LIMIT entries is emptied."""
    if _rememberable(key):
        if len(table) >= CACHE_LIMIT:
            table.clear()
        table[key] = value
    return value


def _rememberable(key: object) -> bool:
    """Whether a memo may keep `key`: no text in it longer than MAX_REMEMBERED_LENGTH."""
    if isinstance(key, str):
        return len(key) <= MAX_REMEMBERED_LENGTH
    if isinstance(key, tuple):
        return all(not isinstance(part, str) or len(part) <= MAX_REMEMBERED_LENGTH for part in key)
    return True


class Hashed(dict):
    """A hashed range: `H[text]` is the absolute dimension `text` folds into (memoised; a dict lookup)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        r = span(name)
        self.start, self.size = r.start, r.size

    def __missing__(self, text: str) -> int:
        return remember(self, text, self.start + stable_hash(text) % self.size)


H_NAME: Final = Hashed("name_subtokens")
H_STMT_DEPTH: Final = Hashed("statement_at_depth")
H_CONTROL: Final = Hashed("control_bigrams")
H_FREE: Final = Hashed("free_names")
H_FREE_ATTR: Final = Hashed("free_attribute_chains")
H_IMPORTED: Final = Hashed("imported_modules")
H_BUILTIN: Final = Hashed("builtins")
H_CLASS: Final = Hashed("class_name")
H_AVAILABLE: Final = Hashed("available_imports")
H_MODULE_DEFS: Final = Hashed("module_definitions")
H_DECORATOR: Final = Hashed("decorators")
H_BASES: Final = Hashed("bases")
H_IDENT: Final = Hashed("identifier_subtokens")
H_OPCTX: Final = Hashed("operator_context")
H_CALLARG: Final = Hashed("call_arguments")
H_ROLE: Final = Hashed("name_roles")
H_CALLEE: Final = Hashed("callees")
H_STMT_CHILD: Final = Hashed("statement_child_pairs")
H_FIRST: Final = Hashed("first_statement")
H_LAST: Final = Hashed("last_statement")
H_STMT_BIGRAM: Final = Hashed("statement_bigrams")
H_PARENT_CHILD: Final = Hashed("ast_parent_child")


class Memo(dict):
    """A table that computes each missing entry once from its key (`make(key)`), emptied past CACHE_LIMIT;
    a key holding a text over MAX_REMEMBERED_LENGTH is computed each time instead."""

    def __init__(self, make) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key):
        return remember(self, key, self.make(key))
