"""Recent predictions by source text, so an editor re-sending unchanged code is answered at once.

Owns a small least-recently-used map from code to the model's Prediction, with what each entry can
serve: a prediction made with `top_k` 5 serves any request for 5 or fewer suggestions (results are
cut to each request's own `top_k`), one made without an embedding cannot serve a request for one,
and one made with a project (model.project.ProjectView: an index and a file) serves only a request
with the same one. The forward lane decides when to look and when to store; a reload must `clear` it,
and a prediction begun before the clear is not stored after it (`generation`). No figure in the
daemon benchmark rests on it: that benchmark sends different code in every request.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # model/ loads numpy: the daemon imports it only once the model is wanted
    from model.prediction import Prediction
    from model.project import ProjectView

__all__ = ["PredictionCache"]


class _Entry(NamedTuple):
    prediction: Any
    top_k: int
    with_embedding: bool
    project: Any
    """The project it was made with (None: none): the same index (compared by identity, so a rebuilt
    one is another) seen from the same file. Keying by the path alone would serve a stale answer once
    the project's index is rebuilt with a new name, and not caching such requests would leave a host
    that always sends `path` without a cache. A project view is held as (a weak reference to its
    index, its file): an index rebuilt every few seconds must not stay alive in a thousand entries."""


def _project_key(project: Any) -> Any:
    """What an entry keeps of its project: a view (model.project.ProjectView) as (weakly, its index;
    its file); anything else (None, a small ImportContext) as it is."""
    index = getattr(project, "index", None)
    return (weakref.ref(index), project.path) if index is not None else project


def _same_project(key: Any, project: Any) -> bool:
    index = getattr(project, "index", None)
    if index is None:
        return not isinstance(key, tuple) and key == project
    return isinstance(key, tuple) and key[0]() is index and key[1] == project.path


class PredictionCache:
    """Thread-safe LRU of predictions keyed by the exact source text (one entry per text: a put with
    other options or another project context replaces it)."""

    def __init__(self, capacity: int = 1024, *, max_code_chars: int = 16 * 1024) -> None:
        self._capacity = capacity
        self._max_code_chars = max_code_chars
        """Longer code is not kept: it would cost memory, and whole files are rarely re-sent unchanged."""
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes at each `clear`: read it before predicting, and `put` drops a prediction begun
        before a clear (a reload's: made with the model it replaced)."""
        return self._generation

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, code: str, *, top_k: int, include_embedding: bool, project: ProjectView | None = None
            ) -> Prediction | None:
        """The cached prediction for `code` if it can serve this request, else None."""
        with self._lock:
            entry = self._entries.get(code)
            if entry is None or entry.top_k < top_k or (include_embedding and not entry.with_embedding):
                return None
            if not _same_project(entry.project, project):
                return None
            self._entries.move_to_end(code)
            return entry.prediction

    def put(self, code: str, prediction: Prediction, *, top_k: int, include_embedding: bool,
            project: ProjectView | None = None, generation: int | None = None) -> None:
        """Remember a prediction made with these options and project context (the least recently used
        one goes), unless the cache was cleared since `generation` (when given) was read."""
        if self._capacity < 1 or len(code) > self._max_code_chars:
            return
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._entries[code] = _Entry(prediction, top_k, include_embedding, _project_key(project))
            self._entries.move_to_end(code)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1
