"""The host project's own modules as import suggestions: the index cache, the forward lane, the daemon."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bridge.projects import ProjectIndexes
from bridge.server import ForwardLane, ForwardTask
from model.project import ImportContext, ProjectIndex
from tests.bridge.conftest import (
    CALLS_SLUGIFY,
    WAIT_S,
    WORKERS_READY,
    serving,
    spawn,
    watch_stderr,
    write_project,
    write_project_checkpoint,
)

SLUGIFY_IMPORT = {"module": "pkg.helpers", "statement": "from pkg.helpers import slugify"}


class FakeClock:
    """time.monotonic, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def context_of(indexes: ProjectIndexes, code: str, path: str | os.PathLike[str]) -> ImportContext | None:
    """What `path`'s project offers `code`, as the daemon gets it: a view of the file, then its words."""
    view = indexes.view(path)
    return view.context(code) if view is not None else None


def built(indexes: ProjectIndexes, root: Path) -> ProjectIndex:
    assert indexes.wait_built(root, WAIT_S), f"no index of {root} within {WAIT_S} s"
    index = indexes.index(root)
    assert index is not None
    return index


# -- ProjectIndexes --------------------------------------------------------------------------------


def test_the_first_request_gets_no_context_and_starts_a_build_after_which_the_project_is_offered(tmp_path):
    views = write_project(tmp_path)
    indexes = ProjectIndexes()
    assert context_of(indexes, CALLS_SLUGIFY, views) is None
    assert indexes.roots == [tmp_path]  # the root above the outermost package
    built(indexes, tmp_path)
    context = context_of(indexes, CALLS_SLUGIFY, views)
    assert context.names["slugify"] == {"pkg.helpers": 1.0} and context.own_module == "pkg.views"
    assert context.evidence(["slugify", "title_slug"]) == {"pkg.helpers": 1.0}  # never its own module


def test_a_relative_path_is_read_against_the_working_directory(tmp_path, monkeypatch):
    write_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    indexes = ProjectIndexes()
    assert context_of(indexes, CALLS_SLUGIFY, "pkg/views.py") is None
    built(indexes, tmp_path)
    context = context_of(indexes, CALLS_SLUGIFY, os.path.join("pkg", "views.py"))
    assert context is not None and context.own_module == "pkg.views"
    assert context.names["slugify"] == {"pkg.helpers": 1.0}


def test_a_file_need_not_exist_but_its_directory_must(tmp_path):
    write_project(tmp_path)
    indexes = ProjectIndexes()
    context_of(indexes, CALLS_SLUGIFY, tmp_path / "pkg" / "new_module.py")
    built(indexes, tmp_path)
    assert context_of(indexes, CALLS_SLUGIFY, tmp_path / "pkg" / "new_module.py").own_module == "pkg.new_module"
    assert context_of(indexes, CALLS_SLUGIFY, tmp_path / "missing" / "views.py") is None
    assert indexes.roots == [tmp_path]  # nothing kept for the missing directory


@pytest.mark.parametrize("path", ["", "bad\0directory/views.py", "x" * 5000 + "/views.py"])
def test_a_path_that_cannot_be_a_file_gives_no_context_and_no_error(path):
    indexes = ProjectIndexes()
    assert context_of(indexes, CALLS_SLUGIFY, path) is None
    assert indexes.roots == []


def test_at_most_capacity_roots_are_kept_and_the_least_recently_used_goes(tmp_path):
    indexes = ProjectIndexes(capacity=8)
    roots = [tmp_path / f"project{n}" for n in range(9)]
    for root in roots[:8]:
        root.mkdir()
        context_of(indexes, "x = 1\n", root / "main.py")
    context_of(indexes, "x = 1\n", roots[0] / "main.py")  # project0 used again: project1 is now the oldest
    roots[8].mkdir()
    context_of(indexes, "x = 1\n", roots[8] / "main.py")
    assert set(indexes.roots) == set(roots) - {roots[1]}
    assert indexes.roots[-1] == roots[8]
    for root in indexes.roots:
        built(indexes, root)
    assert indexes.index(roots[1]) is None


def test_more_folders_than_the_old_eight_used_in_turn_are_each_served_their_index(tmp_path):
    # with eight roots kept, a ninth used in turn dropped each root just before it was asked for again
    indexes = ProjectIndexes()
    roots = [tmp_path / f"scripts{n}" for n in range(12)]
    for root in roots:
        root.mkdir()
        (root / "util.py").write_text("def helper():\n    return 1\n")
        context_of(indexes, "helper()\n", root / "main.py")
        built(indexes, root)
    for root in roots:  # the second round: every index is there, none rebuilt
        context = context_of(indexes, "helper()\n", root / "main.py")
        assert context is not None and context.evidence(["helper"]) == {"util": 1.0}


def _project_of(root: Path, modules: int) -> Path:
    root.mkdir()
    for m in range(modules):
        (root / f"m{m}.py").write_text("x = 1\n")
    return root / "main.py"


def test_past_the_module_budget_only_roots_idle_for_a_while_go_never_the_one_used_last(tmp_path):
    clock = FakeClock()
    indexes = ProjectIndexes(max_modules=5, idle_s=300, clock=clock)
    files = [_project_of(tmp_path / f"project{n}", modules) for n, modules in enumerate((2, 2, 4))]
    for _ in range(2):  # used in turn: over the budget, but each is asked for again, so all are kept
        for file in files:
            context_of(indexes, "x = 1\n", file)
            built(indexes, file.parent)
            clock.now += 10
    assert indexes.roots == [file.parent for file in files]
    clock.now += 300  # the first two go idle; the third is used again
    context_of(indexes, "x = 1\n", files[2])
    assert indexes.roots == [files[2].parent]
    big = _project_of(tmp_path / "big", 7)
    context_of(indexes, "x = 1\n", big)
    built(indexes, big.parent)
    clock.now += 300
    context_of(indexes, "x = 1\n", big)
    assert indexes.roots == [big.parent]  # over the budget alone, and kept: it is the one in use


def test_a_rebuild_that_ends_while_another_root_is_in_use_never_drops_that_root(tmp_path):
    clock, gate = FakeClock(), threading.Event()
    gate.set()

    def scan(root: Path, previous: ProjectIndex | None) -> ProjectIndex:
        gate.wait(WAIT_S)
        return ProjectIndex.scan(root, previous=previous)

    indexes = ProjectIndexes(max_modules=8, idle_s=0, refresh_s=5, scan=scan, clock=clock)
    first, second = _project_of(tmp_path / "first", 3), _project_of(tmp_path / "second", 3)
    for file in (first, second):
        context_of(indexes, "x = 1\n", file)
        built(indexes, file.parent)
    for m in range(3, 6):
        (first.parent / f"m{m}.py").write_text("x = 1\n")  # first grows: 6 + 3 modules, over the budget
    clock.now += 10
    gate.clear()
    context_of(indexes, "x = 1\n", first)  # stale: its rebuild waits at the gate
    context_of(indexes, "x = 1\n", second)  # the editor works in second now
    gate.set()
    indexes.wait_built(first.parent, WAIT_S)  # first's rebuild ends, over the budget: first goes, not second
    assert indexes.roots == [second.parent] and context_of(indexes, "x = 1\n", second) is not None


def test_a_stale_index_keeps_serving_while_it_is_rebuilt_in_the_background(tmp_path):
    views = write_project(tmp_path)
    clock = FakeClock()
    indexes = ProjectIndexes(refresh_s=2.0, clock=clock)
    context_of(indexes, CALLS_SLUGIFY, views)
    first = built(indexes, tmp_path)
    (tmp_path / "pkg" / "text.py").write_text("def titlecase(text):\n    return text.title()\n")
    code = "def heading(title):\n    return titlecase(slugify(title))\n"

    clock.now += 1.0  # fresh: served as it is, nothing rebuilt
    assert "titlecase" not in context_of(indexes, code, views).names
    assert indexes.wait_built(tmp_path, WAIT_S) and indexes.index(tmp_path) is first

    clock.now += 1.5  # stale: the old index answers this request, a new one is built meanwhile
    assert "titlecase" not in context_of(indexes, code, views).names
    second = built(indexes, tmp_path)
    assert second is not first
    assert context_of(indexes, code, views).names["titlecase"] == {"pkg.text": 1.0}


def test_a_project_that_is_slow_to_index_is_rebuilt_less_often(tmp_path):
    views = write_project(tmp_path)
    clock = FakeClock()

    def slow_scan(root: Path, previous: ProjectIndex | None = None) -> ProjectIndex:
        clock.now += 3.0  # the build takes 3 s: rebuilt 5 x 3 s after it started, not after 2 s
        return ProjectIndex.scan(root)

    indexes = ProjectIndexes(refresh_s=2.0, rebuild_factor=5.0, scan=slow_scan, clock=clock)
    context_of(indexes, CALLS_SLUGIFY, views)
    first = built(indexes, tmp_path)
    clock.now += 11.5  # 14.5 s after the build started
    context_of(indexes, CALLS_SLUGIFY, views)
    assert indexes.wait_built(tmp_path, WAIT_S) and indexes.index(tmp_path) is first
    clock.now += 0.5
    context_of(indexes, CALLS_SLUGIFY, views)
    assert built(indexes, tmp_path) is not first


def test_a_build_runs_on_one_background_thread_never_twice_at_once_and_never_holds_up_a_request(tmp_path):
    views = write_project(tmp_path)
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow_scan(root: Path, previous: ProjectIndex | None = None) -> ProjectIndex:
        calls.append(threading.current_thread().name)
        started.set()
        assert release.wait(WAIT_S)
        return ProjectIndex.scan(root)

    indexes = ProjectIndexes(refresh_s=0.0, scan=slow_scan)  # every request would find the index stale
    try:
        assert context_of(indexes, CALLS_SLUGIFY, views) is None
        assert started.wait(WAIT_S), "the build never started"
        for _ in range(20):
            assert context_of(indexes, CALLS_SLUGIFY, views) is None  # at once, though the build is stuck
        assert not indexes.wait_built(tmp_path, 0.01)
        assert calls == ["bridge-projects"]
    finally:
        release.set()
    built(indexes, tmp_path)
    assert len(calls) == 1


def test_a_failed_build_is_logged_and_retried_only_after_the_refresh_interval(tmp_path, caplog):
    views = write_project(tmp_path)
    clock = FakeClock()
    attempts: list[Path] = []

    def failing_scan(root: Path, previous: ProjectIndex | None = None) -> ProjectIndex:
        attempts.append(root)
        if len(attempts) == 1:
            raise PermissionError("not readable")
        return ProjectIndex.scan(root)

    indexes = ProjectIndexes(refresh_s=5.0, scan=failing_scan, clock=clock)
    with caplog.at_level(logging.WARNING, logger="bridge.projects"):
        assert context_of(indexes, CALLS_SLUGIFY, views) is None
        assert not indexes.wait_built(tmp_path, WAIT_S)  # done, without an index
    assert any("not readable" in record.getMessage() and record.levelno == logging.WARNING
               for record in caplog.records)
    clock.now += 4.0
    assert context_of(indexes, CALLS_SLUGIFY, views) is None
    assert not indexes.wait_built(tmp_path, WAIT_S) and len(attempts) == 1  # too soon to try again
    clock.now += 1.0
    assert context_of(indexes, CALLS_SLUGIFY, views) is None  # due: tried again in the background
    built(indexes, tmp_path)
    assert len(attempts) == 2
    assert context_of(indexes, CALLS_SLUGIFY, views) is not None


# -- the forward lane ------------------------------------------------------------------------------


class RecordingPredictor:
    """Answers each source with (source, its project context) and records every call's projects."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    def predict_sources(self, sources, *, top_k, include_embedding, projects=None):
        self.calls.append(list(projects) if projects is not None else None)
        return [(source, project) for source, project in zip(sources, projects or [None] * len(sources), strict=True)]


class Settled:
    """A stand-in for a dispatcher Job: records its result."""

    cancelled = False

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None

    def finish(self, result: Any) -> None:
        self.result = result
        self.done.set()

    def fail(self, exc: BaseException) -> None:
        self.result = exc
        self.done.set()


def predict_in_lane(lane: ForwardLane, code: str, project: ImportContext | None) -> Any:
    job = Settled()
    lane.submit(ForwardTask(job, code, None, lambda _task, output: output, project=project))  # type: ignore[arg-type]
    assert job.done.wait(WAIT_S), "the forward lane never answered"
    return job.result


def test_the_forward_lane_passes_each_tasks_project_and_caches_only_for_an_equal_context():
    predictor = RecordingPredictor()
    lane = ForwardLane(SimpleNamespace(wait=lambda: predictor), capacity=10, max_batch=10, workers=0)
    helpers = ImportContext({"slugify": {"pkg.helpers": 1.0}}, "pkg.views")
    try:
        assert predict_in_lane(lane, CALLS_SLUGIFY, None) == (CALLS_SLUGIFY, None)
        assert predict_in_lane(lane, CALLS_SLUGIFY, helpers) == (CALLS_SLUGIFY, helpers)  # not the cached one
        equal = ImportContext({"slugify": {"pkg.helpers": 1.0}}, "pkg.views")
        assert predict_in_lane(lane, CALLS_SLUGIFY, equal) == (CALLS_SLUGIFY, helpers)  # from the cache
        moved = ImportContext({"slugify": {"pkg.text": 1.0}}, "pkg.views")  # the index was rebuilt
        assert predict_in_lane(lane, CALLS_SLUGIFY, moved) == (CALLS_SLUGIFY, moved)
    finally:
        lane.close()
    assert predictor.calls == [[None], [helpers], [moved]]


# -- through the daemon ----------------------------------------------------------------------------


def suggested(result: dict) -> list[dict]:
    return [{"module": i["module"], "statement": i["statement"]} for i in result["imports"]]


def predict_until_suggested(client, views: Path, *, seconds: float = 5.0) -> dict:
    """Predict for `views` until pkg.helpers is suggested, or `seconds` pass after the first reply (which
    may wait for the model to load); the last result."""
    deadline = None
    while True:
        result = client.call("predict", {"code": CALLS_SLUGIFY, "path": str(views), "top_k": 10})
        deadline = deadline or time.monotonic() + seconds
        if SLUGIFY_IMPORT in suggested(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_the_shipped_model_suggests_the_projects_own_module_once_it_is_indexed(tmp_path):
    """Two of the code's names defined in one project module: what the shipped combiner shows surely
    (a lone name sits at the threshold's edge: 0.34566 against 0.3456 now, shown; 0.327 against
    0.3608 for the checkpoint before, not shown; it can go either way from one training run to the
    next)."""
    views = write_project(tmp_path / "project")
    (views.parent / "helpers.py").write_text("def slugify(text):\n    return text\n\n\n"
                                             "def shorten(text, n=40):\n    return text[:n]\n")
    code = "def title_slug(title):\n    return shorten(slugify(title))\n"
    wanted = {"module": "pkg.helpers", "statement": "from pkg.helpers import shorten, slugify"}
    with serving() as client:
        deadline = time.monotonic() + 60  # the first reply may wait for the model to load
        while wanted not in suggested(result := client.call("predict", {"code": code, "path": str(views)})):
            assert time.monotonic() < deadline, result
            time.sleep(0.05)
        assert result["code_suggestion"].startswith("from pkg.helpers import shorten, slugify")


def test_the_daemon_suggests_the_projects_own_module_with_a_checkpoint_that_weighs_the_project(tmp_path):
    views = write_project(tmp_path / "project")
    checkpoint = write_project_checkpoint(tmp_path / "project.safetensors")
    with serving(f"--checkpoint={checkpoint}", "--workers=0") as client:
        result = predict_until_suggested(client, views)
        assert suggested(result) == [SLUGIFY_IMPORT]
        assert result["code_suggestion"] == "from pkg.helpers import slugify"
        without_path = client.call("predict", {"code": CALLS_SLUGIFY, "top_k": 10})
        assert without_path["imports"] == []  # not the cached answer made with the project


def test_large_code_in_the_slow_lane_gets_the_project_too(tmp_path):
    views = write_project(tmp_path / "project")
    checkpoint = write_project_checkpoint(tmp_path / "project.safetensors")
    from bridge.methods import BULK_CODE_CHARS

    padding = "\n".join(f"value_{n} = {n}" for n in range(BULK_CODE_CHARS // 12))
    large = CALLS_SLUGIFY + padding + "\n"
    assert len(large) > BULK_CODE_CHARS
    with serving(f"--checkpoint={checkpoint}", "--workers=0") as client:
        predict_until_suggested(client, views)  # the project is indexed by now
        result = client.call("predict", {"code": large, "path": str(views), "top_k": 10})
        assert suggested(result) == [SLUGIFY_IMPORT]


def test_without_the_flag_the_path_is_ignored(tmp_path):
    views = write_project(tmp_path / "project")
    checkpoint = write_project_checkpoint(tmp_path / "project.safetensors")
    with serving(f"--checkpoint={checkpoint}", "--no-project-index", "--log-level=info",
                 stderr=subprocess.PIPE) as client:
        [indexed] = watch_stderr(client, b"indexed the project")
        first = client.call("predict", {"code": CALLS_SLUGIFY, "path": str(views), "top_k": 10})
        time.sleep(0.5)  # ample for a build of two modules, had one started
        second = client.call("predict", {"code": CALLS_SLUGIFY + "\n", "path": str(views), "top_k": 10})
        assert first["imports"] == second["imports"] == []
        assert not indexed.is_set()


def test_the_daemon_logs_each_project_it_indexes(tmp_path):
    views = write_project(tmp_path / "project")
    with spawn("--log-level=info", stderr=subprocess.PIPE) as client:
        [indexed] = watch_stderr(client, b"indexed the project " + str(tmp_path / "project").encode())
        client.call("predict", {"code": CALLS_SLUGIFY, "path": str(views)})
        assert indexed.wait(WAIT_S)


def test_predictions_sent_to_worker_processes_carry_their_project(tmp_path):
    views = write_project(tmp_path / "project")
    checkpoint = write_project_checkpoint(tmp_path / "project.safetensors")
    with spawn(f"--checkpoint={checkpoint}", "--workers=1", "--log-level=debug", stderr=subprocess.PIPE) as client:
        ready, used = watch_stderr(client, WORKERS_READY, b"sent to the prediction workers")
        assert SLUGIFY_IMPORT in suggested(predict_until_suggested(client, views))  # indexed by now

        def burst(first: int) -> list[list[dict]]:  # every request has the path: all must get the project
            codes = [CALLS_SLUGIFY.replace("title_slug", f"title_slug_{i}") for i in range(first, first + 40)]
            futures = [client.request("predict", {"code": code, "path": str(views), "top_k": 10}) for code in codes]
            return [suggested(future.result(WAIT_S)) for future in futures]

        assert burst(0) == [[SLUGIFY_IMPORT]] * 40  # the first burst starts the workers
        assert ready.wait(WAIT_S), "the prediction workers never started"
        assert burst(100) == [[SLUGIFY_IMPORT]] * 40
        assert used.wait(WAIT_S), "no prediction went to the workers"
