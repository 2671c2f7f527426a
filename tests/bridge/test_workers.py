"""Prediction workers: a source over a limit fails alone, and the pool keeps serving."""

from __future__ import annotations

import threading

from bridge.workers import PredictionWorkers
from model.errors import SourceLimitError
from model.prediction import Prediction

WAIT_S = 60
TOO_DEEP = "x = a" + ".b" * 20_000 + "\n"


def _run(workers: PredictionWorkers, sources: list[str]) -> list:
    done = threading.Event()
    outcome: list = []

    def finished(result) -> None:
        outcome.append(result)
        done.set()

    workers.submit(sources, top_k=5, include_embedding=False, done=finished)
    assert done.wait(WAIT_S), "the worker never answered"
    return outcome[0]


def test_a_lone_source_over_a_limit_gets_its_error_and_the_workers_stay_up():
    workers = PredictionWorkers(1)
    try:
        workers.start_in_background(None)
        for _ in range(WAIT_S * 10):
            if workers.ready:
                break
            threading.Event().wait(0.1)
        assert workers.ready, "the prediction workers never started"
        [error] = _run(workers, [TOO_DEEP])
        assert isinstance(error, SourceLimitError) and error.limit == "nesting"
        assert workers.ready  # not taken for a broken pool
        [prediction] = _run(workers, ["def f(x):\n    return x + 1\n"])
        assert isinstance(prediction, Prediction)
    finally:
        workers.close()
