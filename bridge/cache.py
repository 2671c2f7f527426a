"""Recent predictions by source text, so an editor re-sending unchanged code is answered at once.

Owns a small least-recently-used map from code to the model's Prediction, with what each entry can
serve: a prediction made with `top_k` 5 serves any request for 5 or fewer suggestions (results are
cut to each request's own `top_k`), and one made without an embedding cannot serve a request for
one. The forward lane decides when to look and when to store; a reload must `clear` it. No figure in
the daemon benchmark rests on it: that benchmark sends different code in every request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, NamedTuple

__all__ = ["PredictionCache"]


class _Entry(NamedTuple):
    prediction: Any
    top_k: int
    with_embedding: bool


class PredictionCache:
    """Thread-safe LRU of predictions keyed by the exact source text."""

    def __init__(self, capacity: int = 1024, *, max_code_chars: int = 16 * 1024) -> None:
        self._capacity = capacity
        self._max_code_chars = max_code_chars
        """Longer code is not kept: it would cost memory, and whole files are rarely re-sent unchanged."""
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, code: str, *, top_k: int, include_embedding: bool) -> Any | None:
        """The cached prediction for `code` if it can serve this request, else None."""
        with self._lock:
            entry = self._entries.get(code)
            if entry is None or entry.top_k < top_k or (include_embedding and not entry.with_embedding):
                return None
            self._entries.move_to_end(code)
            return entry.prediction

    def put(self, code: str, prediction: Any, *, top_k: int, include_embedding: bool) -> None:
        """Remember a prediction made with these options (the least recently used one goes)."""
        if self._capacity < 1 or len(code) > self._max_code_chars:
            return
        with self._lock:
            self._entries[code] = _Entry(prediction, top_k, include_embedding)
            self._entries.move_to_end(code)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
