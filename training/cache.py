"""The on-disk cache of built training data: where it lives, which entries runs still use, and pruning.

Each data set that training and evaluation build (the corpus, the samples, the graphs, the executed
tests' verdicts) is one file under `cache_dir()`, named `<data set>-v<version>[-<key>].<json|npz>`.
A key moves with the config, the corpus and the code that built the data, so an entry whose inputs
moved on is never read again; it stays on disk until pruned (a few code changes leave gigabytes).
Readers mark an entry used by touching it, so `yantra-cache --prune DAYS` removes what no run has
read or written for that long (the executed tests' verdicts only with `--verdicts`), and
`yantra-cache` lists what is there. Only files named as this
package names them are ever listed or removed: the directory may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CacheEntry", "cache_dir", "entries", "main", "mark_used", "prune"]

_NAMES = (r"(?:(?:corpus|imports|bugs|embedding|training-mutants(?:-[a-z_]+)?-\d+|graphs-[a-z0-9-]+)"
          r"-v\d+-[0-9a-f]{24}\.(?:json|npz)|(?:humaneval|stdlib)-results-v\d+\.json)")
"""The names this package gives its entries: a data set, its version and a 24-digit key (corpus.py,
datasets.py, featurize.py), or a file of executed tests' verdicts (humaneval.py, stdlib_tests.py)."""
_ENTRY = re.compile(rf"^(?P<entry>{_NAMES})$")
_UNFINISHED = re.compile(rf"^\.(?P<entry>{_NAMES})\.[A-Za-z0-9_]+\.tmp$"
                         r"|^(?P<old>graphs-[a-z0-9-]+-v\d+-[0-9a-f]{24}\.npz)\.tmp$")
"""The temporary file of a write that never finished: `model.checkpoint.write_atomically`'s
`.<entry>.<random>.tmp`, or the `<entry>.tmp` the graph table wrote before it wrote that way."""
_DATA_SET = re.compile(r"^(?P<name>.+?)-v\d+[-.]")
_VERDICTS = frozenset({"humaneval-results", "stdlib-results"})
"""The executed tests' verdicts: small, slow to make again (minutes of sandboxed runs), and a verdict
can rest on chance (a test of a random bit), so made again they may differ from the labels a
reported figure rests on. Pruning keeps them unless asked."""
_DAY_S = 86_400.0


def cache_dir() -> Path:
    """``$YANTRA_CACHE_DIR`` or ``~/.cache/yantra-bridge``."""
    configured = os.environ.get("YANTRA_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "yantra-bridge"


def mark_used(path: Path) -> None:
    """Note that a run read `path` (its modification time), so pruning keeps it; a read-only cache
    is left as it is."""
    with contextlib.suppress(OSError):
        os.utime(path)


@dataclass(frozen=True)
class CacheEntry:
    """One file of the cache: the data set it holds (`corpus`, `bugs`, `graphs-yantra-978`, ...), its
    size, when a run last used it, and whether it is the leftover of an interrupted write."""

    path: Path
    data_set: str
    size: int
    last_used: float
    unfinished: bool


def entries(directory: Path | None = None) -> list[CacheEntry]:
    """The cache's entries, most recently used first; [] when there is no cache yet."""
    directory = directory or cache_dir()
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _ENTRY.match(path.name) or _UNFINISHED.match(path.name)
        if match is None or not path.is_file() or path.is_symlink():
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # renamed or removed since the listing (a run finishing a write)
            continue
        data_set = _DATA_SET.match(match["entry"] or match["old"])
        assert data_set is not None  # every name of _NAMES has a version
        found.append(CacheEntry(path, data_set["name"], stat.st_size, stat.st_mtime, match.re is _UNFINISHED))
    return sorted(found, key=lambda entry: (-entry.last_used, entry.path.name))


def prune(unused_days: float, directory: Path | None = None, *, dry_run: bool = False,
          now: float | None = None, verdicts: bool = False) -> list[CacheEntry]:
    """Remove the entries no run has used for `unused_days` days (0: every entry, the half-written
    file of a run building data at the time included), the tests' verdicts only with `verdicts`;
    the ones removed (with `dry_run`, the ones that would be)."""
    if unused_days < 0:
        raise ValueError(f"days unused must be 0 or more, got {unused_days:g}")
    cutoff = (time.time() if now is None else now) - unused_days * _DAY_S
    stale = [entry for entry in entries(directory) if (unused_days == 0 or entry.last_used <= cutoff)
             and (verdicts or entry.unfinished or entry.data_set not in _VERDICTS)]
    if not dry_run:
        for entry in stale:
            entry.path.unlink(missing_ok=True)
    return stale


def _size(size: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.2f} GiB"


def _table(found: Sequence[CacheEntry], now: float) -> list[str]:
    return [f"{_size(e.size):>10}  {max(now - e.last_used, 0.0) / _DAY_S:6.1f} days ago  {e.path.name}"
            + ("  (unfinished write)" if e.unfinished else "") for e in found]


def _days(text: str) -> float:
    """An argparse type: a finite number of days, 0 or more."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not math.isfinite(days) or days < 0:
        raise argparse.ArgumentTypeError(f"{text} is not 0 or more days")
    return days


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="yantra-cache", description="List the training data cache, or remove what no run has used lately.")
    parser.add_argument("--dir", type=Path, default=None, help="the cache (default: $YANTRA_CACHE_DIR or "
                        "~/.cache/yantra-bridge)")
    parser.add_argument("--prune", type=_days, metavar="DAYS", default=None,
                        help="remove the entries no run has read or written for DAYS days (0: all of them "
                        "but the tests' verdicts, and a write under way too)")
    parser.add_argument("--dry-run", action="store_true", help="with --prune: say what would go, remove nothing")
    parser.add_argument("--verdicts", action="store_true",
                        help="with --prune: the executed tests' verdicts too (kept otherwise: made again, a "
                             "verdict that rests on chance may differ from the one a reported figure used)")
    args = parser.parse_args(argv)
    if (args.dry_run or args.verdicts) and args.prune is None:
        parser.error("--dry-run and --verdicts go with --prune DAYS")
    directory = args.dir or cache_dir()
    if directory.exists() and not directory.is_dir():
        parser.error(f"--dir {directory}: not a folder")
    if not directory.exists():
        print(f"{directory}: no cache there (no such folder)")
        return 0
    now = time.time()
    gone: list[CacheEntry] = []
    if args.prune is not None:
        gone = prune(args.prune, directory, dry_run=args.dry_run, now=now, verdicts=args.verdicts)
        verb = "would remove" if args.dry_run else "removed"
        print("\n".join([*_table(gone, now), f"{verb} {len(gone)} entries, {_size(sum(e.size for e in gone))}"]))
    removed = {entry.path for entry in gone}
    kept = [entry for entry in entries(directory) if entry.path not in removed]
    if args.prune is None:
        print("\n".join(_table(kept, now)))
    print(f"{directory}: {len(kept)} entries{' kept' if args.prune is not None else ''}, "
          f"{_size(sum(e.size for e in kept))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
