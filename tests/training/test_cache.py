"""The data cache: its entries, marking them used, and pruning what no run used lately."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from training.cache import entries, main, mark_used, prune
from training.corpus import CorpusOptions, build_corpus

DAY = 86_400.0
NOW = time.time()


def _file(directory: Path, name: str, *, days_ago: float, size: int = 10) -> Path:
    path = directory / name
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - days_ago * DAY, NOW - days_ago * DAY))
    return path


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    _file(tmp_path, "corpus-v3-0123abcd.json", days_ago=1)
    _file(tmp_path, "graphs-yantra-978-v2-89ef.npz", days_ago=30, size=100)
    _file(tmp_path, "humaneval-results-v1.json", days_ago=10)
    _file(tmp_path, ".bugs-v1-77aa.json.k2j3h_x.tmp", days_ago=20)  # a write that never finished
    _file(tmp_path, "notes.json", days_ago=400)  # a file of someone else's: never listed, never removed
    _file(tmp_path, "corpus-v3-0123abcd.json.bak", days_ago=400)
    (tmp_path / "training-mutants-4-v1-aa.json").mkdir()
    return tmp_path


def test_entries_are_this_packages_files_most_recently_used_first(cache: Path):
    found = entries(cache)
    assert [e.path.name for e in found] == ["corpus-v3-0123abcd.json", "humaneval-results-v1.json",
                                           ".bugs-v1-77aa.json.k2j3h_x.tmp", "graphs-yantra-978-v2-89ef.npz"]
    assert [e.data_set for e in found] == ["corpus", "humaneval-results", "bugs", "graphs-yantra-978"]
    assert [e.unfinished for e in found] == [False, False, True, False]
    assert found[-1].size == 100
    assert entries(cache / "missing") == []


def test_pruning_removes_only_entries_unused_for_that_long(cache: Path):
    assert [e.path.name for e in prune(15, cache, dry_run=True, now=NOW)] == [
        ".bugs-v1-77aa.json.k2j3h_x.tmp", "graphs-yantra-978-v2-89ef.npz"]
    assert len(entries(cache)) == 4  # a dry run removes nothing
    prune(15, cache, now=NOW)
    assert [e.path.name for e in entries(cache)] == ["corpus-v3-0123abcd.json", "humaneval-results-v1.json"]
    prune(0, cache, now=NOW)
    assert entries(cache) == []
    assert {p.name for p in cache.iterdir()} == {"notes.json", "corpus-v3-0123abcd.json.bak",
                                                 "training-mutants-4-v1-aa.json"}
    with pytest.raises(ValueError, match="0 or more"):
        prune(-1, cache)


def test_reading_an_entry_marks_it_used(tmp_path: Path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "code.py").write_text("def f(x):\n    y = x + 1\n    return y\n")
    options = CorpusOptions(roots=(str(tmp_path / "src"),))
    build_corpus(options, cache=tmp_path / "cache")
    [entry] = entries(tmp_path / "cache")
    os.utime(entry.path, (NOW - 100 * DAY, NOW - 100 * DAY))
    build_corpus(options, cache=tmp_path / "cache")
    assert entries(tmp_path / "cache")[0].last_used > time.time() - DAY
    mark_used(tmp_path / "missing.json")  # nothing to mark: no error


def test_the_command_lists_and_prunes(cache: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["--dir", str(cache)]) == 0
    listed = capsys.readouterr().out
    assert "graphs-yantra-978-v2-89ef.npz" in listed and "notes.json" not in listed
    assert "(unfinished write)" in listed and f"{cache}: 4 entries, 130 B" in listed
    assert main(["--dir", str(cache), "--prune", "0", "--dry-run"]) == 0
    assert "would remove 4 entries, 130 B" in capsys.readouterr().out and len(entries(cache)) == 4
    assert main(["--dir", str(cache), "--prune", "0"]) == 0
    assert f"removed 4 entries, 130 B\n{cache}: 0 entries kept, 0 B" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["--prune", "-2"])
    assert exit_info.value.code == 2
