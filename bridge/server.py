"""The daemon's life once its modules are loaded: the model loader, the work lanes, stop and drain.

Owns the lifecycle and the worker threads: a background model load (so nothing waits for numpy),
the forward lane that takes queued predictions together into one forward pass, a slow lane for
everything else, and the main thread, which hands the early reader over to the dispatcher, waits for
a reason to stop (end of input, SIGTERM/SIGINT, `exit`, a dead parent, a broken stdout), lets the work
already read finish, and returns the exit code. Reading stdin and signals are bridge.early's; what
each method computes is bridge.methods'; replies and the in-flight table are the dispatcher's.
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.cache import PredictionCache
from bridge.config import BridgeConfig
from bridge.dispatcher import Dispatcher, Job, Router
from bridge.early import EarlyReader
from bridge.projects import ProjectIndexes
from bridge.stopping import StopRequest
from bridge.transport import Writer
from bridge.workers import PredictionWorkers, embed_chunk, extract_chunk, new_predictor, predict_chunk
from protocol.errors import ModelUnavailable, ServerBusy

if TYPE_CHECKING:  # model/ loads numpy: the daemon imports it only once the model is wanted
    from model.predictor import Predictor
    from model.project import ProjectView

__all__ = [
    "EXIT_OK",
    "EXIT_WITHOUT_SHUTDOWN",
    "ForwardLane",
    "ForwardTask",
    "Lifecycle",
    "ModelSlot",
    "Server",
    "SlowLane",
]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_WITHOUT_SHUTDOWN = 1
"""`exit` arrived without a `shutdown` before it (the LSP rule)."""

_DRAIN_TIMEOUT_S = 60.0
_STUCK_WRITE_S = 2.0
"""A reply write that has lasted this long is stuck behind a host that does not read stdout."""
_HAND_OVER_POLL_S = 0.05
_PREDICT_HERE_S = 20.0
"""The part of a stop's drain kept for predicting here what a hung worker still held."""
_PARENT_CHECK_S = 1.0


class _HostReading:
    """Whether the host still reads stdout, for a stop's drain. Once a stop signal has come (`stop`), a
    reply write that has moved no piece out for _STUCK_WRITE_S (`Writer.blocked_for`), while what
    the host has not read stayed the same (`Writer.unread`), means no more can be answered; the
    host gets that long after the signal to read again. Without a signal (end of input, `exit`)
    every reply is owed, and the drain waits its whole bound for a host that pauses. A host that
    keeps reading keeps the drain waiting either way."""

    def __init__(self, writer: Writer, stop: StopRequest) -> None:
        self._writer = writer
        self._stop = stop
        self._unread = writer.unread()
        self._moved = time.monotonic()
        """When the unread count last moved (at first, when the drain began)."""

    def stopped(self) -> bool:
        unread, now = self._writer.unread(), time.monotonic()
        if unread != self._unread:  # the host read, or a blocked write went on because it did
            self._unread, self._moved = unread, now
        signalled = self._stop.signalled_at
        if signalled is None:
            return False
        return min(self._writer.blocked_for(), now - max(self._moved, signalled)) > _STUCK_WRITE_S


class Lifecycle(enum.Enum):
    """Where the daemon is in its life; it only ever moves down this list."""

    RUNNING = "running"
    """Serving; the model may still be loading (predictions then wait for it)."""
    SHUTDOWN_REQUESTED = "shutdown_requested"
    """`shutdown` was answered: new work is refused, `exit` is awaited."""
    STOPPING = "stopping"
    """A reason to stop arrived: no new line is read; the work already read is finishing."""
    STOPPED = "stopped"


class ModelSlot:
    """The predictor, loaded once in the background (a `reload` swaps the model inside it)."""

    def __init__(self, checkpoint: str | None, *, max_code_bytes: int,
                 confidence_pass_rate: float | None = None) -> None:
        self._checkpoint = checkpoint
        self.max_code_bytes = max_code_bytes
        """The model's own code-size bound: the daemon's `--max-code-bytes`, so one limit rules."""
        self.confidence_pass_rate = confidence_pass_rate
        """The host's pass rate (`--confidence-pass-rate`), for this predictor and the workers' alike."""
        self._ready = threading.Event()
        self._predictor: Predictor | None = None
        self._error: BaseException | None = None

    def start_loading(self) -> None:
        threading.Thread(target=self._load, name="bridge-model-load", daemon=True).start()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            from model.native import extractor_build

            # numpy and the network load here, off the reader
            predictor = new_predictor(self._checkpoint, self.max_code_bytes, self.confidence_pass_rate)
            predictor.load()
            info = predictor.info()
            if info["reason"]:  # a checkpoint named but not loaded, or the untrained fallback: never silent
                logger.warning("checkpoint: %s", info["reason"])
            if self.confidence_pass_rate is not None and info["confidence_pass_rate"] != self.confidence_pass_rate:
                logger.warning("--confidence-pass-rate %s is not applied: this checkpoint does not say at what "
                               "pass rate its confidence was calibrated (no confidence_labels)",
                               self.confidence_pass_rate)
            build = extractor_build()
            (logger.warning if build.stale else logger.info)("feature extractor: %s", build.describe())
            self._predictor = predictor
            logger.info("model ready in %.0f ms", (time.perf_counter() - started) * 1e3)
        except BaseException as exc:
            self._error = exc
            logger.error("model failed to load: %s", exc, exc_info=True)
        finally:
            self._ready.set()

    @property
    def ready(self) -> bool:
        """True once a predictor can serve (loading finished without error)."""
        return self._ready.is_set() and self._predictor is not None

    @property
    def loading(self) -> bool:
        return not self._ready.is_set()

    @property
    def error(self) -> BaseException | None:
        return self._error

    def wait(self) -> Predictor:
        """The predictor, waiting for the load to finish; ModelUnavailable if it failed."""
        self._ready.wait()
        if self._predictor is None:
            raise ModelUnavailable(
                f"Model unavailable: the model could not be loaded: {self._error}", reason=str(self._error)
            )
        return self._predictor


@dataclass(slots=True)
class ForwardTask:
    """One queued prediction: what to run it on and how to shape its result."""

    job: Job
    code: str | None
    features: list[float] | None
    shape: Callable[[Any, Any], Any]
    """(task, prediction or embedding row) -> result; the methods layer shapes results."""
    top_k: int = 5
    include_embedding: bool = False
    embed_only: bool = False
    project: ProjectView | None = None
    """The code's project as seen from its file (bridge.projects); None: no project known."""


_WORKERS_START_S = 5.0
"""How long a large module waits for the worker processes it starts (they take about 0.3 s here)."""


class ForwardLane:
    """A bounded queue of predictions and the thread that runs them, many per forward pass.

    Whatever is waiting when the thread comes round is taken together (up to `max_batch`), so a
    sequential caller pays one thread hop and a pipelining caller pays one forward pass per burst.
    When predictions pile up and worker processes are configured, code predictions are sent to them
    in chunks (bridge.workers) and this thread only shapes their results; a lone request is still
    served in-process, with no process hop. Code scored a moment ago, with the same project context,
    is answered from a small cache (bridge.cache). A full queue refuses at once with SERVER_BUSY.
    """

    def __init__(self, model: ModelSlot, *, capacity: int, max_batch: int, workers: int) -> None:
        self._model = model
        self._capacity = capacity
        self._max_batch = max_batch
        self._worker_count = workers
        self._workers = self._new_workers()
        self._workers_cutoff: float | None = None
        """Set at a stop (`give_up_workers_at`): when the workers must hand back what they hold."""
        self._cache = PredictionCache()
        self._tasks: deque[ForwardTask] = deque()
        self._returned: deque[tuple[list[ForwardTask], list[Any] | BaseException, int]] = deque()
        """Chunks back from the workers: the tasks, their outcome and the cache generation they were sent at."""
        self._at_workers = 0
        self._wakeup = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="bridge-forward", daemon=True)
        self._thread.start()

    def _new_workers(self) -> PredictionWorkers | None:
        if not self._worker_count:
            return None
        return PredictionWorkers(self._worker_count, max_code_bytes=self._model.max_code_bytes,
                                 confidence_pass_rate=self._model.confidence_pass_rate)

    @property
    def depth(self) -> int:
        """Predictions waiting: queued, or with the worker processes."""
        return len(self._tasks) + self._at_workers

    def submit(self, task: ForwardTask) -> None:
        with self._wakeup:
            if self.depth >= self._capacity:
                raise _busy(self._capacity)
            self._tasks.append(task)
            self._wakeup.notify()

    def model_changed(self) -> None:
        """After a reload: replace the workers (they hold the old model), then forget cached predictions.
        In that order: a round that reads the cache's new generation must also find the new workers,
        or a chunk it sends to the old ones would be cached as the new model's."""
        with self._wakeup:
            old, self._workers = self._workers, self._new_workers()
            if self._workers is not None and self._workers_cutoff is not None:
                self._workers.give_up_at(self._workers_cutoff)
        self._cache.clear()
        if old is not None:
            old.close()

    def give_up_workers_at(self, when: float) -> None:
        """At a stop: whatever the workers still hold at `when` (time.monotonic) is predicted here,
        by this pool or one a reload under way puts in its place (`model_changed`)."""
        with self._wakeup:
            self._workers_cutoff = when
            workers = self._workers
        if workers is not None:
            workers.give_up_at(when)

    def close(self) -> None:
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()
            workers = self._workers
        if workers is not None:
            workers.close()

    def _take(self) -> tuple[list[tuple[list[ForwardTask], Any, int]], list[ForwardTask]] | None:
        """Chunks back from the workers, and new tasks; None once closed and empty."""
        with self._wakeup:
            self._wakeup.wait_for(lambda: self._tasks or self._returned or self._closed)
            if not self._tasks and not self._returned:
                return None
            returned = list(self._returned)
            self._returned.clear()
            self._at_workers -= sum(len(chunk) for chunk, _, _ in returned)
            count = min(len(self._tasks), self._max_batch)
            return returned, [self._tasks.popleft() for _ in range(count)]

    def _run(self) -> None:
        while (work := self._take()) is not None:
            returned, tasks = work
            try:
                self._serve(returned, tasks)
            except ModelUnavailable as exc:  # no model to predict with: the round's requests are told so
                _fail_round(returned, tasks, exc)
            except Exception as exc:  # a fault here must not leave this and every later prediction unanswered
                logger.exception("the predictions thread failed a round; its requests get an internal error")
                _fail_round(returned, tasks, exc)

    def _serve(self, returned: list[tuple[list[ForwardTask], Any, int]], tasks: list[ForwardTask]) -> None:
        """One round: the chunks back from the workers, then the new tasks (some sent to the workers)."""
        generation = self._cache.generation  # before the model: a reload after this is not cached
        predictor = self._model.wait()
        for chunk, outcome, sent_at in returned:
            self._finish_returned(predictor, chunk, outcome, sent_at, generation)
        live = [task for task in tasks if not task.job.cancelled and not self._answered_from_cache(task)]
        to_workers = [task for task in live if task.code is not None and not task.embed_only]
        workers = self._workers  # read once: a reload may swap the pool during the round
        if to_workers and workers is not None and self._workers_wanted(workers, predictor, len(to_workers)):
            kept = self._send_to_workers(workers, to_workers, generation)
            live = [task for task in live if task.code is None or task.embed_only] + kept
        for group in _groups(live):
            self._deliver(group, functools.partial(_forward, predictor), generation)

    def _answered_from_cache(self, task: ForwardTask) -> bool:
        """Unchanged code the model has just scored is answered from the cache, with no work."""
        if task.code is None or task.embed_only:
            return False
        prediction = self._cache.get(
            task.code, top_k=task.top_k, include_embedding=task.include_embedding, project=task.project
        )
        if prediction is None:
            return False
        _complete(task, prediction)
        return True

    def predict_large(self, task: ForwardTask) -> Any:
        """A large module's prediction, for the slow lane: in a worker process when one is up (see
        `_elsewhere`), else here."""
        assert task.code is not None
        options = _shared_options([task])
        found = self._elsewhere(predict_chunk, [task.code], options["top_k"], options["include_embedding"],
                                [_context(task)])
        if found is None:
            found = self._model.wait().predict_sources([task.code], **options, projects=[task.project])[0]
        return found

    def embed_large(self, code: str) -> Any:
        """A large module's embedding row, for the slow lane, as `predict_large`."""
        found = self._elsewhere(embed_chunk, [code])
        return found if found is not None else self._model.wait().embed_sources([code])[0]

    def extract_large(self, code: str, max_nodes: int | None = None) -> Any:
        """A large module's features, for the slow lane, as `predict_large` (`max_nodes`: see
        `Predictor.extract_features`)."""
        found = self._elsewhere(extract_chunk, [code], max_nodes)
        return found if found is not None else self._model.wait().extract_features(code, max_nodes=max_nodes)

    def _elsewhere(self, chunk_function: Callable[..., list[Any]], sources: list[str], *args: Any) -> Any | None:
        """One large source's result from a worker process: CPython's parser holds the interpreter
        lock for a whole parse (seconds for a few MB), which would hold up `ping` and every small
        prediction here. The first large source starts the workers and waits for them (a fraction of
        a second; at most `_WORKERS_START_S`). None when they are not up by then or a worker failed:
        then the caller computes it in this process. The source's own error (syntax, a limit) is
        raised, as it would be here."""
        workers = self._workers
        if workers is None:
            return None
        workers.start_in_background(*self._model.wait().checkpoint_identity())
        if not workers.wait_ready(_WORKERS_START_S):
            return None
        outcome = workers.run_now(chunk_function, sources, *args)
        if isinstance(outcome, BaseException):
            return None
        logger.debug("a large source (%d characters) was handled in a worker process", len(sources[0]))
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _workers_wanted(self, workers: PredictionWorkers, predictor: Predictor, count: int) -> bool:
        """Under load (several predictions at once, or some already out) and the workers are up."""
        if count < 2 and not self._at_workers:
            return False
        workers.start_in_background(*predictor.checkpoint_identity())
        return workers.ready

    def _send_to_workers(self, workers: PredictionWorkers, tasks: list[ForwardTask], generation: int
                         ) -> list[ForwardTask]:
        """Send all but this process's own share to the workers; return the share kept here."""
        shares = min(workers.workers + 1, len(tasks))  # this process predicts one share itself
        kept = tasks[0::shares]
        logger.debug("%d of %d predictions sent to the prediction workers", len(tasks) - len(kept), len(tasks))
        for index in range(1, shares):
            chunk = tasks[index::shares]
            workers.submit(
                [task.code for task in chunk],
                **_shared_options(chunk),
                projects=[_context(task) for task in chunk],
                done=functools.partial(self._on_returned, chunk, generation),
            )
            with self._wakeup:  # counted once handed over; only this thread uncounts them (`_take`), later
                self._at_workers += len(chunk)
        return kept

    def _on_returned(self, chunk: list[ForwardTask], generation: int, outcome: list[Any] | BaseException) -> None:
        with self._wakeup:
            self._returned.append((chunk, outcome, generation))
            self._wakeup.notify()

    def _finish_returned(self, predictor: Predictor, chunk: list[ForwardTask], outcome: list[Any] | BaseException,
                         sent_at: int, generation: int) -> None:
        """Shape the workers' predictions; a chunk whose worker failed is predicted here instead."""
        if isinstance(outcome, BaseException):
            self._deliver(chunk, functools.partial(_forward, predictor), generation)
            return
        self._complete_all(chunk, outcome, sent_at)

    def _deliver(self, group: list[ForwardTask], compute: Callable[[list[ForwardTask]], list[Any]],
                 generation: int) -> None:
        """One call for the whole group; if it fails, each task alone so each gets its own error."""
        try:
            outputs = compute(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].job.fail(exc)
            else:
                for task in group:
                    self._deliver([task], compute, generation)
            return
        self._complete_all(group, outputs, generation)

    def _complete_all(self, group: list[ForwardTask], outputs: list[Any], generation: int) -> None:
        """Answer each task from its output (an error fails it alone), caching code predictions."""
        options = _shared_options(group)
        for task, output in zip(group, outputs, strict=True):
            if isinstance(output, BaseException):
                task.job.fail(output)
                continue
            if task.code is not None and not task.embed_only:
                self._cache.put(task.code, output, project=task.project, generation=generation, **options)
            _complete(task, output)


def _busy(capacity: int) -> ServerBusy:
    return ServerBusy(f"Server busy: {capacity} requests are already waiting; retry later", queue_size=capacity)


def _complete(task: ForwardTask, output: Any) -> None:
    """Finish the task's job with its shaped result, or fail it if shaping fails."""
    try:
        task.job.finish(task.shape(task, output))
    except Exception as exc:
        task.job.fail(exc)


def _context(task: ForwardTask) -> Any:
    """What a worker process needs of the task's project: the index's entries for every word of the
    code (the worker alone learns which are free names); read here, off the reader thread."""
    return task.project.context(task.code) if task.project is not None and task.code is not None else None


def _groups(tasks: list[ForwardTask]) -> list[list[ForwardTask]]:
    """Split a batch by the predictor call it needs (code or vectors; predictions or embeddings)."""
    groups: dict[tuple[bool, bool], list[ForwardTask]] = {}
    for task in tasks:
        groups.setdefault((task.code is not None, task.embed_only), []).append(task)
    return list(groups.values())


def _fail_round(returned: list[tuple[list[ForwardTask], Any, int]], tasks: list[ForwardTask],
                exc: BaseException) -> None:
    """Fail every request of a round with `exc`; one already answered keeps its one reply."""
    for task in [task for chunk, _, _ in returned for task in chunk] + tasks:
        task.job.fail(exc)


def _forward(predictor: Predictor, group: list[ForwardTask]) -> list[Any]:
    """Each task's Prediction, or its embedding row for `embed`."""
    from_code = group[0].code is not None
    inputs = [task.code if from_code else task.features for task in group]
    if group[0].embed_only:
        rows = predictor.embed_sources(inputs) if from_code else predictor.embed_vectors(inputs)
        return list(rows)
    if from_code:
        return predictor.predict_sources(inputs, projects=[task.project for task in group], **_shared_options(group))
    return predictor.predict_vectors(inputs, **_shared_options(group))


def _shared_options(group: list[ForwardTask]) -> dict[str, Any]:
    """One call serves the whole group: the largest top_k (each result is cut to its own later)."""
    return {
        "top_k": max(task.top_k for task in group),
        "include_embedding": any(task.include_embedding for task in group),
    }


class SlowLane:
    """Methods that are neither instant nor batched (extract_features, reload, very large code).

    Two threads, so one long request (a huge module) does not hold up every other slow one.
    """

    def __init__(self, *, capacity: int) -> None:
        self._capacity = capacity
        self._pending = 0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bridge-slow")

    @property
    def depth(self) -> int:
        return self._pending

    def submit(self, job: Job, work: Callable[[], Any]) -> None:
        with self._lock:
            if self._pending >= self._capacity:
                raise _busy(self._capacity)
            self._pending += 1
        self._executor.submit(self._run, job, work)

    def _run(self, job: Job, work: Callable[[], Any]) -> None:
        try:
            if not job.cancelled:
                job.finish(work())
        except Exception as exc:
            job.fail(exc)
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=False)


class Server:
    """Wires transport, dispatcher, methods and lanes together and runs them until a stop."""

    def __init__(
        self, config: BridgeConfig, *, reader: EarlyReader, writer: Writer, stop: StopRequest, started: float,
        router: Callable[[Server], Router],
    ) -> None:
        """`router` makes the methods layer for this server (bridge.methods.BridgeMethods): the server
        runs methods without knowing them, as the dispatcher does."""
        self.config = config
        self.started = started
        self.state = Lifecycle.RUNNING
        self._reader = reader
        self._stop = stop
        self.model = ModelSlot(config.checkpoint, max_code_bytes=config.max_code_bytes,
                               confidence_pass_rate=config.confidence_pass_rate)
        self.forward = ForwardLane(
            self.model,
            capacity=config.queue_size,
            max_batch=config.max_forward_batch,
            workers=config.workers,
        )
        self.slow = SlowLane(capacity=config.queue_size)
        self.projects = ProjectIndexes() if config.project_index else None
        """The host projects' indexes for import suggestions; None with `--no-project-index`."""
        writer.when_broken(functools.partial(self.request_stop, "stdout is broken"))
        self._writer = writer
        self.methods = router(self)
        self.dispatcher = Dispatcher(
            writer,
            self.methods,
            max_batch=config.max_batch,
            max_json_depth=config.max_json_depth,
            max_line_bytes=config.max_line_bytes,
        )
        self._hand_over = threading.Thread(
            target=reader.hand_over, args=(self.dispatcher.dispatch_line,),
            kwargs={"on_end": functools.partial(self.request_stop, "end of input")},
            name="bridge-hand-over", daemon=True,
        )
        """Dispatches the lines read before start-up, then routes later ones (`serve` starts it)."""

    # -- stopping -------------------------------------------------------------------------------

    def request_stop(self, reason: str, exit_code: int = EXIT_OK) -> None:
        """Ask the main thread to stop; the first reason wins. Safe from any thread."""
        self._stop.set(reason, exit_code)

    def request_shutdown(self) -> None:
        """`shutdown`: refuse new work from now on; `exit` will then stop with code 0."""
        if self.state is Lifecycle.RUNNING:
            self.state = Lifecycle.SHUTDOWN_REQUESTED

    @property
    def queue_depth(self) -> int:
        return self.forward.depth + self.slow.depth

    # -- running --------------------------------------------------------------------------------

    def serve(self) -> int:
        """Run until a reason to stop, finish the work already read, and return the exit code.

        The lines read so far are handed over on a thread of their own: answering them may block on
        a host that is not reading its stdout, and this thread must stay free to act on a signal."""
        self._hand_over.start()
        self.model.start_loading()
        parent = os.getppid()
        while not self._stop.wait(_PARENT_CHECK_S):
            if os.getppid() != parent:
                self.request_stop("the parent process died")
        return self._drain()

    def _finish_hand_over(self, deadline: float, host: _HostReading | None = None) -> None:
        """Let the lines read before start-up all be dispatched (until `deadline`): they are requests
        already read, and a reply or a job is what the drain waits for. Not once the host has stopped
        reading and sent a stop signal (`_HostReading`): then no more can be answered."""
        host = host or _HostReading(self._writer, self._stop)
        while self._hand_over.is_alive() and time.monotonic() < deadline:
            if host.stopped():
                return
            self._hand_over.join(_HAND_OVER_POLL_S)

    def _wait_for_replies(self, deadline: float, host: _HostReading) -> None:
        """Let every request read so far be answered (until `deadline`), unless the host has stopped
        reading stdout and sent a stop signal (`_HostReading`): it would otherwise hold the daemon for
        the whole drain."""
        while not self.dispatcher.wait_idle(min(_HAND_OVER_POLL_S, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                logger.warning("%d requests still pending after %.0f s", self.dispatcher.in_flight,
                               _DRAIN_TIMEOUT_S)
                return
            if host.stopped():
                logger.warning("%d requests left unanswered: stdout has not been read for %.0f s",
                               self.dispatcher.in_flight, _STUCK_WRITE_S)
                return

    def _drain(self) -> int:
        logger.info("stopping: %s", self._stop.reason)
        deadline = time.monotonic() + _DRAIN_TIMEOUT_S
        host = _HostReading(self._writer, self._stop)
        self._finish_hand_over(deadline, host)  # still RUNNING: these were read before the stop, and are served
        self.state = Lifecycle.STOPPING
        self._reader.close()  # the line being dispatched (unless stuck writing) is in the table; no new one will be
        self.forward.give_up_workers_at(deadline - _PREDICT_HERE_S)
        self._wait_for_replies(deadline, host)
        self.forward.close()
        self.slow.close()
        self.state = Lifecycle.STOPPED
        return self._stop.exit_code
