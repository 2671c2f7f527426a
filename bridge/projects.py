"""The host projects the daemon knows: one `model.project.ProjectIndex` per project root, kept fresh.

Owns the cache of project indexes (bounded in roots and in modules, the least recently used
dropped), the one background thread that builds them, and when an index counts as stale. A prediction never waits for
an index: until the first build of a project is done its code is scored without one, and a stale
index keeps serving while its replacement is built (files change while someone types). What an
index holds and how a project's root is found are model.project's; when to ask is bridge.methods'.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from model.project import ProjectIndex, ProjectView, project_root

__all__ = ["IDLE_S", "MAX_MODULES", "MAX_PROJECTS", "REBUILD_FACTOR", "REFRESH_S", "ProjectIndexes"]

logger = logging.getLogger(__name__)

MAX_PROJECTS = 32
"""Project roots kept; one more drops the least recently used. An editor with more folders open
than this, used in turn, would drop each root just before it is asked for again, and never be
served an index: the bound is set well above the folders one person works in at once."""
MAX_MODULES = 10_000
"""Modules kept in all indexes together (about 5 KB each: 50 MB); past it the least recently used
roots are dropped, but only those unused for IDLE_S: projects used in turn are kept whatever their
size, since dropping one that is asked for again means indexing it again from nothing."""
IDLE_S = 300.0
"""A root unused this long may be dropped to bring the indexes within MAX_MODULES."""
REFRESH_S = 10.0
"""An index older than this is rebuilt (in the background) the next time it is used; a failed build
is not retried sooner either."""
REBUILD_FACTOR = 5.0
"""...unless its build took longer than REFRESH_S / REBUILD_FACTOR: then it is rebuilt once it is
REBUILD_FACTOR times as old as its build took, so rebuilding a large project keeps at most about a
fifth of the daemon's time (a build is pure Python and holds the GIL: ~2,000 files take ~8 s on the
2-CPU test machine, which a 10 s refresh would turn into the daemon's main work)."""


def _rescan(root: Path, previous: ProjectIndex | None) -> ProjectIndex:
    """Index `root`, reading again only the files changed since `previous`."""
    return ProjectIndex.scan(root, previous=previous)


@dataclass(slots=True)
class _Entry:
    index: ProjectIndex | None = None
    """The latest index built, served until a newer one replaces it."""
    attempted: float | None = None
    """When the latest build started (time.monotonic), finished or failed; None before the first."""
    pending: bool = False
    """A build is queued or running: no second one is started."""
    took: float = 0.0
    """How long the latest successful build took, in seconds."""
    used: float = 0.0
    """When a request last asked for this root (the clock's time)."""


class ProjectIndexes:
    """Thread-safe cache of project indexes by root, built on one background daemon thread."""

    def __init__(
        self,
        *,
        capacity: int = MAX_PROJECTS,
        max_modules: int = MAX_MODULES,
        idle_s: float = IDLE_S,
        refresh_s: float = REFRESH_S,
        rebuild_factor: float = REBUILD_FACTOR,
        scan: Callable[[Path, ProjectIndex | None], ProjectIndex] = _rescan,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._max_modules = max_modules
        self._idle_s = idle_s
        self._refresh_s = refresh_s
        self._rebuild_factor = rebuild_factor
        self._scan = scan
        self._clock = clock
        self._entries: OrderedDict[Path, _Entry] = OrderedDict()
        self._queue: deque[Path] = deque()
        self._builder: threading.Thread | None = None
        self._changed = threading.Condition()
        """Guards everything above; notified whenever a build finishes."""
        self._located: dict[str, tuple[float, tuple[Path, Path] | None]] = {}
        """path -> (when, its file and root): a cache, filled without a lock (a race only repeats work)."""

    # -- what the methods ask ---------------------------------------------------------------------

    def view(self, path: str | os.PathLike[str]) -> ProjectView | None:
        """`path`'s project as seen from that file, from its ready index; None while there is none
        yet (a build is then started in the background) or when the project's directory does not
        exist. `path` may be relative to the daemon's working directory. Never waits for a build,
        and costs a few dictionary lookups: the code itself is not read here."""
        located = self._locate(os.fspath(path))
        if located is None:
            return None
        file, root = located
        index = self._index_and_refresh(root)
        return ProjectView(index, str(file)) if index is not None else None

    def _locate(self, path: str) -> tuple[Path, Path] | None:
        """(absolute file, project root) for `path`, remembered for `refresh_s` (an editor sends the
        same few paths again and again; finding the root costs a stat per directory level)."""
        now = self._clock()
        known = self._located.get(path)
        if known is not None and now - known[0] < self._refresh_s:
            return known[1]
        located = _locate(path)
        if len(self._located) >= _LOCATED_MAX:
            self._located.clear()
        self._located[path] = (now, located)
        return located

    def index(self, root: str | os.PathLike[str]) -> ProjectIndex | None:
        """The ready index of `root`, if any (starts nothing)."""
        with self._changed:
            entry = self._entries.get(_key(root))
            return entry.index if entry is not None else None

    def wait_built(self, root: str | os.PathLike[str], timeout: float) -> bool:
        """Wait up to `timeout` s until `root` has no build pending; True if an index is then ready."""
        key = _key(root)
        with self._changed:
            self._changed.wait_for(lambda: not self._pending(key), timeout)
            entry = self._entries.get(key)
            return entry is not None and not entry.pending and entry.index is not None

    @property
    def roots(self) -> list[Path]:
        """The roots kept, least recently used first."""
        with self._changed:
            return list(self._entries)

    # -- keeping ----------------------------------------------------------------------------------

    def _pending(self, key: Path) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry.pending

    def _index_and_refresh(self, root: Path) -> ProjectIndex | None:
        """The root's index as it is now; queues a build if there is none or it is stale (and no build
        is pending, and the last attempt is at least `refresh_s` old, or `rebuild_factor` times as old
        as the last build took, whichever is longer)."""
        now = self._clock()
        with self._changed:
            entry = self._entries.get(root)
            if entry is None:
                entry = self._entries[root] = _Entry()
            entry.used = now
            self._entries.move_to_end(root)
            self._trim(now)
            interval = max(self._refresh_s, self._rebuild_factor * entry.took)
            due = entry.attempted is None or now - entry.attempted >= interval
            if due and not entry.pending:
                entry.pending = True
                self._queue.append(root)
                if self._builder is None:
                    self._builder = threading.Thread(target=self._build_queued, name="bridge-projects", daemon=True)
                    self._builder.start()
            return entry.index

    def _trim(self, now: float) -> None:
        """Drop least recently used roots while more than `capacity` are kept, then while their
        indexes hold more than `max_modules` modules and the oldest has been unused for `idle_s`; never
        the root used last (a dropped root's pending build is dropped when done)."""
        modules = sum(_size(entry) for entry in self._entries.values())
        for oldest in list(self._entries)[:-1]:  # least recently used first, never the last used
            entry = self._entries[oldest]
            over_capacity = len(self._entries) > self._capacity
            if not over_capacity and (modules <= self._max_modules or now - entry.used < self._idle_s):
                return
            modules -= _size(self._entries.pop(oldest))

    def _build_queued(self) -> None:
        """The builder thread: build each queued root in turn, and end when none is left."""
        while True:
            with self._changed:
                if not self._queue:
                    self._builder = None
                    return
                root = self._queue.popleft()
                entry = self._entries.get(root)
                if entry is None or not entry.pending:  # dropped from the cache (and maybe re-added) while queued
                    continue
                started = entry.attempted = self._clock()
            index = self._build(root, entry.index)
            with self._changed:
                entry.pending = False
                if index is not None:
                    entry.index = index  # (an entry dropped meanwhile is out of the table: no harm)
                    entry.took = self._clock() - started
                    self._trim(self._clock())
                else:
                    entry.attempted = self._clock()  # the retry waits `refresh_s` from the failure
                self._changed.notify_all()

    def _build(self, root: Path, previous: ProjectIndex | None) -> ProjectIndex | None:
        started = time.perf_counter()
        try:
            index = self._scan(root, previous)
        except Exception as exc:
            logger.warning("indexing the project %s failed (retried in %.0f s at the earliest): %s",
                           root, self._refresh_s, exc)
            return None
        logger.info("indexed the project %s: %d modules in %.0f ms",
                    root, len(index.modules), (time.perf_counter() - started) * 1e3)
        return index


def _size(entry: _Entry) -> int:
    return len(entry.index.modules) if entry.index is not None else 0


_LOCATED_MAX = 4096
_MAX_PATH_CHARS = 4096
"""Longer is no file path (Linux's PATH_MAX): not looked up, nor kept in the cache of paths."""


def _locate(path: str) -> tuple[Path, Path] | None:
    """(absolute file, project root), or None when there is no path or its project is not a directory."""
    if not path or len(path) > _MAX_PATH_CHARS:
        return None
    try:
        file = Path(os.path.abspath(path))
        root = project_root(file)
        return (file, root) if root.is_dir() else None
    except (OSError, ValueError):  # a name too long, a NUL byte, a directory we may not read
        return None


def _key(root: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(root))
