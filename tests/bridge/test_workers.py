"""Prediction workers: a source over a limit fails alone, the pool keeps serving, each source is
predicted with its own project context, and a pool a dead worker broke is given up for the daemon."""

from __future__ import annotations

import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import SimpleNamespace

import pytest

import bridge.workers
from bridge.server import ForwardLane, ForwardTask
from bridge.workers import PredictionWorkers, embed_chunk, extract_chunk, predict_chunk
from model.errors import SourceLimitError, SourceSyntaxError
from model.prediction import ImportSuggestion, Prediction
from model.predictor import Predictor
from model.project import ImportContext, ProjectIndex
from tests.bridge.conftest import CALLS_SLUGIFY, write_project, write_project_checkpoint
from tests.bridge.test_projects import Settled

WAIT_S = 60
TOO_DEEP = "x = a" + ".b" * 20_000 + "\n"


def _run(workers: PredictionWorkers, sources: list[str], projects: list | None = None) -> list:
    done = threading.Event()
    outcome: list = []

    def finished(result) -> None:
        outcome.append(result)
        done.set()

    workers.submit(sources, top_k=5, include_embedding=False, projects=projects, done=finished)
    assert done.wait(WAIT_S), "the worker never answered"
    return outcome[0]


def _started(predictor: Predictor | None = None, **options) -> PredictionWorkers:
    """A pool of one worker that has loaded `predictor`'s model (by default the one the search finds)."""
    workers = PredictionWorkers(1, **options)
    workers.start_in_background(*(predictor or Predictor()).checkpoint_identity())
    for _ in range(WAIT_S * 10):
        if workers.ready:
            return workers
        threading.Event().wait(0.1)
    workers.close()
    raise AssertionError("the prediction workers never started")


@pytest.fixture
def project(tmp_path) -> tuple[Predictor, ImportContext]:
    """A predictor whose combiner weighs project evidence, and CALLS_SLUGIFY's context in its project."""
    views = write_project(tmp_path / "project")
    predictor = Predictor(write_project_checkpoint(tmp_path / "project.safetensors"))
    predictor.load()
    return predictor, ProjectIndex.scan(tmp_path / "project").context(CALLS_SLUGIFY, views)


SLUGIFY = ImportSuggestion("pkg.helpers", pytest.approx(1.0, abs=1e-3), "from pkg.helpers import slugify")


def test_a_lone_source_over_a_limit_gets_its_error_and_the_workers_stay_up():
    workers = _started()
    try:
        [error] = _run(workers, [TOO_DEEP])
        assert isinstance(error, SourceLimitError) and error.limit == "nesting"
        assert workers.ready  # not taken for a broken pool
        [prediction] = _run(workers, ["def f(x):\n    return x + 1\n"])
        assert isinstance(prediction, Prediction)
    finally:
        workers.close()


def test_predict_chunk_with_projects_answers_what_the_predictor_answers_with_them(project, monkeypatch):
    predictor, context = project
    monkeypatch.setattr(bridge.workers, "_predictor", predictor)
    sources, projects = [CALLS_SLUGIFY, CALLS_SLUGIFY, "x = 1\n"], [context, None, context]
    chunk = predict_chunk(sources, 5, False, projects)
    assert chunk == predictor.predict_sources(sources, top_k=5, include_embedding=False, projects=projects)
    assert [p.imports for p in chunk] == [[SLUGIFY], [], []]


def test_after_a_source_over_a_limit_each_other_source_keeps_its_own_project(project, monkeypatch):
    predictor, context = project
    monkeypatch.setattr(bridge.workers, "_predictor", predictor)
    error, with_project, without = predict_chunk([TOO_DEEP, CALLS_SLUGIFY, CALLS_SLUGIFY], 5, False,
                                                 [None, context, None])
    assert isinstance(error, SourceLimitError)
    assert with_project == predictor.predict_sources([CALLS_SLUGIFY], projects=[context])[0]
    assert with_project.imports == [SLUGIFY] and without.imports == []


def test_a_worker_process_gets_each_sources_project(project):
    predictor, context = project
    workers = _started(predictor)
    try:
        with_project, without = _run(workers, [CALLS_SLUGIFY, CALLS_SLUGIFY], [context, None])
        assert with_project.imports == [SLUGIFY] and without.imports == []
    finally:
        workers.close()


def test_embed_chunk_gives_each_source_its_embedding_or_its_own_error(monkeypatch):
    predictor = Predictor()
    predictor.load()
    monkeypatch.setattr(bridge.workers, "_predictor", predictor)
    good, broken = "def f(x):\n    return x + 1\n", "def f(:\n"
    row, error, deep = embed_chunk([good, broken, TOO_DEEP])
    assert row.tolist() == predictor.embed_sources([good])[0].tolist()
    assert isinstance(error, SourceSyntaxError) and error.line == 1
    assert isinstance(deep, SourceLimitError) and deep.limit == "nesting"


def test_extract_chunk_gives_each_source_its_features_or_its_own_error(monkeypatch):
    predictor = Predictor()
    predictor.load()
    monkeypatch.setattr(bridge.workers, "_predictor", predictor)
    good = "def f(x):\n    return x + 1\n"
    extraction, error = extract_chunk([good, "def f(:\n"])
    assert extraction.features.tolist() == predictor.extract_features(good).features.tolist()
    assert isinstance(error, SourceSyntaxError)
    two_nodes, refused = extract_chunk([good, good + "def g():\n    pass\n"], 2)  # module and f; module, f, g
    assert len(two_nodes.nodes) == 2
    assert isinstance(refused, SourceLimitError) and (refused.limit, refused.maximum, refused.actual) == ("units", 2, 3)


def test_wait_ready_does_not_wait_for_a_pool_never_started_and_sees_one_come_up():
    assert PredictionWorkers(1).wait_ready(WAIT_S) is False  # never started: answered at once
    workers = PredictionWorkers(1)
    workers.start_in_background(*Predictor().checkpoint_identity())
    try:
        assert workers.wait_ready(WAIT_S)
    finally:
        workers.close()


def test_workers_never_serve_a_checkpoint_replaced_since_the_daemon_loaded_it(tmp_path):
    """They load the daemon's model again by path, long after the daemon did: a file swapped in the
    meantime would make some replies come from another model than the one `model_info` reports."""
    daemon = Predictor(write_project_checkpoint(tmp_path / "model.safetensors"))
    identity = daemon.checkpoint_identity()
    shipped = Predictor().info()["checkpoint"]  # copied over the daemon's file
    (tmp_path / "model.safetensors").write_bytes(Path(shipped).read_bytes())
    workers = PredictionWorkers(1)
    workers.start_in_background(*identity)
    try:
        assert workers.wait_ready(WAIT_S) is False  # given up: the daemon predicts with its own model
    finally:
        workers.close()


def test_workers_of_a_daemon_on_untrained_weights_do_not_load_a_checkpoint_found_since():
    workers = PredictionWorkers(1)
    workers.start_in_background(None, None)  # the search finds the shipped checkpoint now
    try:
        assert workers.wait_ready(WAIT_S) is False
    finally:
        workers.close()


def test_a_worker_process_restates_confidence_for_the_hosts_pass_rate_as_the_daemon_does():
    shipped = Predictor(confidence_pass_rate=0.6)
    shipped.load()
    workers = _started(shipped, confidence_pass_rate=0.6)
    try:
        (served,) = _run(workers, [CALLS_SLUGIFY])
        assert served.confidence == shipped.predict_sources([CALLS_SLUGIFY])[0].confidence
    finally:
        workers.close()


# -- a pool that breaks ----------------------------------------------------------------------------


class _RefusingExecutor:
    """An executor whose pool a dead worker has broken: it refuses new work at once."""

    def submit(self, *args, **kwargs):
        raise BrokenProcessPool("A child process terminated abruptly")

    def shutdown(self, **kwargs) -> None:
        pass


def test_a_pool_broken_before_a_submit_hands_the_failure_to_done_and_is_given_up():
    workers = PredictionWorkers(1)
    workers._executor = _RefusingExecutor()  # type: ignore[assignment]
    workers._ready.set()
    assert workers.ready
    outcome = _run(workers, ["x = 1\n"])
    assert isinstance(outcome, BrokenProcessPool)
    assert not workers.ready  # predicted in the daemon from now on
    assert isinstance(workers.run_now(predict_chunk, ["x = 1\n"], 5, False), BrokenProcessPool)


def test_a_chunk_a_hung_worker_keeps_past_its_deadline_is_failed_once_and_the_pool_given_up(monkeypatch):
    monkeypatch.setattr(bridge.workers, "CHUNK_DEADLINE_S", 0.3)
    monkeypatch.setattr(bridge.workers, "CHARACTERS_PER_SECOND", 1e12)
    workers = _started()
    try:
        hung = threading.Thread(target=workers.run_now, args=(time.sleep, 3), daemon=True)  # the one worker, busy
        hung.start()
        outcomes: list = []
        answered = threading.Event()

        def done(outcome) -> None:
            outcomes.append(outcome)
            answered.set()

        workers.submit(["x = 1\n"], top_k=5, include_embedding=False, done=done)  # queued behind the sleep
        assert answered.wait(WAIT_S) and isinstance(outcomes[0], TimeoutError)
        assert not workers.ready  # predicted in the daemon from now on
        hung.join(WAIT_S)
        threading.Event().wait(1.0)  # the worker finishes the chunk after all: no second outcome
        assert len(outcomes) == 1
    finally:
        workers.close()


def _watched_pool(monkeypatch, deadline: float, characters_per_second: float) -> tuple[PredictionWorkers, list]:
    """A pool whose chunks are bare futures (no processes), watched every 20 ms; and its outcomes."""
    monkeypatch.setattr(bridge.workers, "CHUNK_DEADLINE_S", deadline)
    monkeypatch.setattr(bridge.workers, "CHARACTERS_PER_SECOND", characters_per_second)
    monkeypatch.setattr(bridge.workers, "_WATCHDOG_S", 0.02)
    return PredictionWorkers(1), []


def _send(workers: PredictionWorkers, outcomes: list, characters: int):
    from concurrent.futures import Future

    future: Future = Future()
    once = bridge.workers._once(outcomes.append)
    workers._watch(future, characters, once)
    future.add_done_callback(lambda f: workers._progressed(once, workers._outcome(f)))  # as `submit` does
    return future


def test_a_pool_that_keeps_finishing_chunks_is_never_given_up_however_long_its_queue(monkeypatch):
    workers, outcomes = _watched_pool(monkeypatch, deadline=0.3, characters_per_second=1e12)
    chunks = [_send(workers, outcomes, 1) for _ in range(8)]
    for chunk in chunks:  # 8 x 0.15 s: far past one allowance in all, never 0.3 s without progress
        threading.Event().wait(0.15)
        chunk.set_result(["ok"])
    assert outcomes == [["ok"]] * 8 and not workers._broken


def test_a_pool_that_finishes_nothing_for_its_allowance_fails_every_chunk_it_holds(monkeypatch):
    workers, outcomes = _watched_pool(monkeypatch, deadline=0.2, characters_per_second=10)
    chunks = [_send(workers, outcomes, 3) for _ in range(5)]  # the oldest allows 0.2 + 3 / 10 s
    threading.Event().wait(0.3)
    assert outcomes == []  # within the allowance
    threading.Event().wait(0.6)
    assert len(outcomes) == 5 and all(isinstance(o, TimeoutError) for o in outcomes) and workers._broken
    assert all(chunk.cancelled() for chunk in chunks) and len(outcomes) == 5  # none runs, none answers twice


def test_a_chunk_stuck_at_one_worker_is_given_up_though_other_workers_keep_finishing(monkeypatch):
    workers, outcomes = _watched_pool(monkeypatch, deadline=0.2, characters_per_second=1e12)
    stuck = _send(workers, outcomes, 1)
    stuck.set_running_or_notify_cancel()  # handed to a worker, which never answers
    queued = _send(workers, outcomes, 1)  # not yet at a worker: cancelled when the pool is given up
    for _ in range(6):  # the other worker keeps finishing chunks: the pool as a whole progresses
        threading.Event().wait(0.1)
        other = _send(workers, outcomes, 1)
        if not other.cancelled():  # (once the pool is given up, a chunk sent to it is refused at once)
            other.set_result(["ok"])
    failures = [o for o in outcomes if isinstance(o, TimeoutError)]
    assert len(failures) == 2 and "at a worker" in str(failures[0]) and workers._broken
    assert queued.cancelled() and not stuck.cancelled()


def test_a_small_chunk_queued_behind_a_long_one_does_not_give_a_healthy_pool_up(monkeypatch):
    workers, outcomes = _watched_pool(monkeypatch, deadline=0.1, characters_per_second=10)
    long, short = _send(workers, outcomes, 20), _send(workers, outcomes, 1)  # allowed 2.1 s and 0.2 s
    long.set_running_or_notify_cancel()
    short.set_running_or_notify_cancel()  # in the call queue behind it: running() already says so
    threading.Event().wait(0.8)  # far past twice the short one's allowance
    assert outcomes == [] and not workers._broken
    long.set_result(["long"])
    short.set_result(["short"])
    assert outcomes == [["long"], ["short"]]


def test_a_pool_given_up_refuses_further_chunks_at_once():
    workers = PredictionWorkers(1)
    workers._executor = _RefusingExecutor()  # type: ignore[assignment]  # (never reached)
    workers._broken = True
    outcomes: list = []
    workers.submit(["x = 1\n"], top_k=5, include_embedding=False, done=outcomes.append)
    assert len(outcomes) == 1 and isinstance(outcomes[0], RuntimeError)


def test_a_stops_cutoff_carries_over_to_the_pool_a_reload_puts_in_place():
    model = SimpleNamespace(wait=_EchoPredictor, max_code_bytes=1 << 20, confidence_pass_rate=None)
    lane = ForwardLane(model, capacity=10, max_batch=10, workers=1)  # type: ignore[arg-type]
    try:
        lane.give_up_workers_at(12345.0)
        lane.model_changed()  # a reload that was under way when the stop came
        assert lane._workers._cutoff == 12345.0
    finally:
        lane.close()


def test_at_a_stop_the_chunks_a_worker_still_holds_are_failed_at_the_time_given(monkeypatch):
    workers, outcomes = _watched_pool(monkeypatch, deadline=600.0, characters_per_second=1e12)
    _send(workers, outcomes, 1)
    workers.give_up_at(time.monotonic() + 0.1)
    threading.Event().wait(0.4)
    assert len(outcomes) == 1 and "stopping" in str(outcomes[0])


def test_a_large_source_a_hung_worker_keeps_past_its_deadline_is_handed_back_to_the_daemon(monkeypatch):
    monkeypatch.setattr(bridge.workers, "RUN_NOW_DEADLINE_S", 0.3)
    workers = _started()
    try:
        outcome = workers.run_now(time.sleep, 3)
        assert isinstance(outcome, TimeoutError) and not workers.ready
    finally:
        workers.close()


class _EchoPredictor:
    def predict_sources(self, sources, *, top_k, include_embedding, projects=None):
        return [f"scored {source}" for source in sources]

    def info(self) -> dict:
        return {"checkpoint": None}

    def checkpoint_identity(self) -> tuple[None, None]:
        return None, None


class _StubWorkers:
    """A pool that is up, and whose `submit` either reports a dead worker or raises (a fault)."""

    workers = 1

    def __init__(self, submit_raises: bool) -> None:
        self.ready = True
        self.submit_raises = submit_raises

    def start_in_background(self, checkpoint, digest) -> None:
        pass

    def submit(self, sources, *, top_k, include_embedding, projects=None, done) -> None:
        if self.submit_raises:
            raise RuntimeError("a fault while handing work to the pool")
        self.ready = False
        done(BrokenProcessPool("A child process terminated abruptly"))

    def close(self) -> None:
        pass


def _burst(lane: ForwardLane, codes: list[str]) -> list:
    """Submit `codes` so that the lane's thread takes them in one round (several at once go to the pool)."""
    jobs = [Settled() for _ in codes]
    with lane._wakeup:  # the thread cannot take any until all are queued
        for job, code in zip(jobs, codes, strict=True):
            lane.submit(ForwardTask(job, code, None, lambda _task, output: output))  # type: ignore[arg-type]
    for job in jobs:
        assert job.done.wait(WAIT_S), "a prediction was never answered"
    return [job.result for job in jobs]


@pytest.mark.parametrize("refused_at_submit", [False, True], ids=["the future fails", "the pool refuses the work"])
def test_predictions_a_dead_worker_cannot_take_are_made_in_the_daemon(refused_at_submit):
    lane = ForwardLane(SimpleNamespace(wait=_EchoPredictor), capacity=50, max_batch=50, workers=0)
    if refused_at_submit:  # the real pool, broken before it could say so: its submit raises
        workers = PredictionWorkers(1)
        workers._executor = _RefusingExecutor()  # type: ignore[assignment]
        workers._ready.set()
    else:
        workers = _StubWorkers(submit_raises=False)  # type: ignore[assignment]
    lane._workers = workers
    try:
        codes = [f"x = {i}\n" for i in range(6)]
        assert _burst(lane, codes) == [f"scored {code}" for code in codes]
        assert not workers.ready and lane.depth == 0
        assert _burst(lane, ["y = 1\n", "y = 2\n"]) == ["scored y = 1\n", "scored y = 2\n"]
    finally:
        lane.close()


def test_a_reload_replaces_the_workers_before_it_forgets_the_cache():
    """A round that reads the cache's new generation must find the new workers: one that sent a chunk
    to the old ones under the new generation would cache the old model's answers as the new one's."""
    slot = SimpleNamespace(wait=_EchoPredictor, max_code_bytes=1 << 20, confidence_pass_rate=None)
    lane = ForwardLane(slot, capacity=50, max_batch=50, workers=1)  # its pool is made, never started
    old = lane._workers
    seen_at_clear = []
    clear = lane._cache.clear
    lane._cache.clear = lambda: (seen_at_clear.append(lane._workers), clear())  # type: ignore[method-assign]
    try:
        lane.model_changed()
        assert seen_at_clear == [lane._workers] and lane._workers is not old
    finally:
        lane.close()


def test_a_fault_in_a_round_fails_that_rounds_predictions_and_the_lane_keeps_serving():
    lane = ForwardLane(SimpleNamespace(wait=_EchoPredictor), capacity=50, max_batch=50, workers=0)
    lane._workers = _StubWorkers(submit_raises=True)  # type: ignore[assignment]
    try:
        results = _burst(lane, [f"x = {i}\n" for i in range(4)])
        assert all(isinstance(result, RuntimeError) for result in results)
        assert _burst(lane, ["y = 1\n"]) == ["scored y = 1\n"]  # a lone prediction stays in the daemon
        assert lane.depth == 0
    finally:
        lane.close()


def test_a_prediction_made_while_a_reload_swaps_the_model_is_answered_but_not_cached():
    lane = ForwardLane(SimpleNamespace(wait=lambda: reloading), capacity=50, max_batch=50, workers=0)

    class ReloadingPredictor(_EchoPredictor):
        calls = 0

        def predict_sources(self, sources, **options):
            ReloadingPredictor.calls += 1
            if ReloadingPredictor.calls == 1:
                lane.model_changed()  # a reload swaps the model while this prediction is made
            return super().predict_sources(sources, **options)

    reloading = ReloadingPredictor()
    try:
        assert _burst(lane, ["x = 1\n"]) == ["scored x = 1\n"]
        assert _burst(lane, ["x = 1\n"]) == ["scored x = 1\n"]
        assert ReloadingPredictor.calls == 2  # the first answer, made by the old model, was not kept
        assert _burst(lane, ["x = 1\n"]) == ["scored x = 1\n"] and ReloadingPredictor.calls == 2  # this one was
    finally:
        lane.close()
