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
KEY = "0123456789abcdef01234567"
"""A key as this package makes them: 12 bytes of blake2b in hex."""


def _file(directory: Path, name: str, *, days_ago: float, size: int = 10) -> Path:
    path = directory / name
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - days_ago * DAY, NOW - days_ago * DAY))
    return path


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    _file(tmp_path, f"corpus-v3-{KEY}.json", days_ago=1)
    _file(tmp_path, f"graphs-yantra-978-v2-{KEY}.npz", days_ago=30, size=100)
    _file(tmp_path, "humaneval-results-v1.json", days_ago=10)
    _file(tmp_path, f".bugs-v1-{KEY}.json.k2j3h_x.tmp", days_ago=20)  # a write that never finished
    _file(tmp_path, f"graphs-yantra-978-v2-{KEY}.npz.tmp", days_ago=40)  # the graph table's, written before
    for foreign in ("notes.json", f"corpus-v3-{KEY}.json.bak", "settings-v2.json", "backup-v1-2024.json",
                    ".hidden-v1.json", "corpus-v3-0123abcd.json", f".bugs-v1-{KEY}.json.tmp",
                    f"bugs-v1-{KEY}.json.tmp"):
        _file(tmp_path, foreign, days_ago=400)  # someone else's (or unlike ours): never listed, never removed
    (tmp_path / f"training-mutants-4-v1-{KEY}.json").mkdir()
    return tmp_path


def test_entries_are_this_packages_files_most_recently_used_first(cache: Path):
    found = entries(cache)
    assert [e.path.name for e in found] == [
        f"corpus-v3-{KEY}.json", "humaneval-results-v1.json", f".bugs-v1-{KEY}.json.k2j3h_x.tmp",
        f"graphs-yantra-978-v2-{KEY}.npz", f"graphs-yantra-978-v2-{KEY}.npz.tmp"]
    assert [e.data_set for e in found] == ["corpus", "humaneval-results", "bugs", "graphs-yantra-978",
                                           "graphs-yantra-978"]
    assert [e.unfinished for e in found] == [False, False, True, False, True]
    assert found[3].size == 100
    assert entries(cache / "missing") == []


def test_pruning_removes_only_entries_unused_for_that_long(cache: Path):
    assert [e.path.name for e in prune(15, cache, dry_run=True, now=NOW)] == [
        f".bugs-v1-{KEY}.json.k2j3h_x.tmp", f"graphs-yantra-978-v2-{KEY}.npz", f"graphs-yantra-978-v2-{KEY}.npz.tmp"]
    assert len(entries(cache)) == 5  # a dry run removes nothing
    prune(15, cache, now=NOW)
    assert [e.path.name for e in entries(cache)] == [f"corpus-v3-{KEY}.json", "humaneval-results-v1.json"]
    _file(cache, ".stdlib-results-v2.json.x1.tmp", days_ago=1)  # a verdicts write that never finished
    prune(0, cache, now=NOW)
    assert [e.path.name for e in entries(cache)] == ["humaneval-results-v1.json"]  # verdicts: only if asked
    prune(0, cache, now=NOW, verdicts=True)
    assert entries(cache) == []
    assert len(list(cache.iterdir())) == 9  # the eight foreign files and the folder
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
    assert f"graphs-yantra-978-v2-{KEY}.npz" in listed and "notes.json" not in listed
    assert "(unfinished write)" in listed and f"{cache}: 5 entries, 140 B" in listed
    assert main(["--dir", str(cache), "--prune", "0", "--dry-run"]) == 0
    assert "would remove 4 entries, 130 B" in capsys.readouterr().out and len(entries(cache)) == 5
    assert main(["--dir", str(cache), "--prune", "0"]) == 0
    assert f"removed 4 entries, 130 B\n{cache}: 1 entries kept, 10 B" in capsys.readouterr().out
    assert main(["--dir", str(cache), "--prune", "0", "--verdicts"]) == 0
    assert f"removed 1 entries, 10 B\n{cache}: 0 entries kept, 0 B" in capsys.readouterr().out


def test_pruning_everything_takes_an_entry_whose_clock_runs_ahead(tmp_path: Path):
    _file(tmp_path, f"bugs-v1-{KEY}.json", days_ago=-3)  # a clock set back since
    assert len(prune(0, tmp_path, dry_run=True)) == 1 and prune(1, tmp_path, dry_run=True) == []


@pytest.mark.parametrize(("flags", "says"), [
    (["--prune", "nan"], "not 0 or more days"), (["--prune", "-1"], "not 0 or more days"),
    (["--prune", "x"], "not a number of days"), (["--dry-run"], "go with --prune DAYS"),
    (["--verdicts"], "go with --prune DAYS"),
])
def test_the_command_refuses_what_it_cannot_do(flags, says, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(flags)
    assert exit_info.value.code == 2 and says in capsys.readouterr().err


def test_the_command_says_when_there_is_no_cache_and_refuses_a_file(tmp_path: Path, capsys):
    assert main(["--dir", str(tmp_path / "none")]) == 0
    assert "no cache there" in capsys.readouterr().out
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit):
        main(["--dir", str(tmp_path / "file")])
    assert "not a folder" in capsys.readouterr().err
