"""Predictions computed in worker processes, so extraction and forward passes run outside the GIL.

Owns the worker pool: started on demand in the background (the first time predictions pile up or a
large module comes, so a host that asks one small thing at a time never pays for it), from a fork
server that has already imported model.predictor, each worker loading the same checkpoint as the
daemon. `predict_chunk` is what a
worker runs: the daemon sends source text (with each source's small project context, when known) and
gets back `model.prediction.Prediction`s, a few hundred bytes each, so the daemon's own share of a
request is reading, shaping and writing JSON. `embed_chunk` and `extract_chunk` do the same for
embeddings and features (the slow lane sends a large module's there). A source over a limit comes
back as its model error (which pickles with its fields), so it fails alone. When to use the workers
is bridge.server's business.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.config import BridgeConfig
from model.errors import SourceError, SourceLimitError

if TYPE_CHECKING:
    from model.predictor import Predictor
    from model.project import ImportContext

__all__ = [
    "CHARACTERS_PER_SECOND", "CHUNK_DEADLINE_S", "RUN_NOW_DEADLINE_S", "PredictionWorkers", "embed_chunk",
    "extract_chunk", "new_predictor", "predict_chunk",
]

logger = logging.getLogger(__name__)

_WATCHDOG_S = 1.0
CHUNK_DEADLINE_S = 30.0
"""How long the workers may go without finishing a chunk, beyond a second for each CHARACTERS_PER_SECOND
of code in the oldest chunk still out, before the pool counts as hung: every chunk still out is then
predicted in the daemon and the pool given up (a worker that hangs would otherwise keep its
requests unanswered for ever)."""
CHARACTERS_PER_SECOND = 1 << 15
"""Half the rate of the slowest code measured here, for a machine busy with other work: 64 Ki
characters of one-line functions take up to a second in a worker (a real 64 Ki-character module
0.1-0.2 s, a 30-line function about a millisecond)."""
RUN_NOW_DEADLINE_S = 45.0
"""How long one large source (`run_now`) may take: a 2 MiB module takes a few seconds here. Under
the drain's 60 s, so that at end of input such a source is still predicted in the daemon and answered."""
_predictor: Any = None
"""The worker's own Predictor, loaded by its initializer."""


def new_predictor(checkpoint: str | None, max_code_bytes: int, confidence_pass_rate: float | None) -> Predictor:
    """A `model.predictor.Predictor`, not yet loaded, as the daemon and each of its workers build it:
    a worker's replies must be the daemon's own. Imports the model (numpy, the network) on first call."""
    from model.graph import SourceLimits
    from model.predictor import Predictor

    return Predictor(checkpoint, limits=SourceLimits(max_bytes=max_code_bytes),
                     confidence_pass_rate=confidence_pass_rate)


def _init_worker(daemon_pid: int, checkpoint: str | None, digest: str | None, max_code_bytes: int,
                 confidence_pass_rate: float | None = None) -> None:
    """Load the daemon's checkpoint, ignore Ctrl-C (the daemon decides), exit when the daemon is gone.

    A pool worker otherwise outlives a daemon that died without shutting the pool down: it holds
    both ends of its own task pipe, so it never sees end of input. The workers start long after the
    daemon loaded its model, and load it again by path (or by the search, for the untrained
    fallback): a worker that finds other bytes there (`digest`: the daemon's, None for untrained
    weights) refuses to start, so the pool is given up and the daemon answers everything with the
    model it reports, rather than some replies coming from a file replaced since.
    """
    global _predictor
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(daemon_pid,), name="bridge-worker-watchdog", daemon=True).start()
    _predictor = new_predictor(checkpoint, max_code_bytes, confidence_pass_rate)
    _predictor.load()
    found, found_digest = _predictor.checkpoint_identity()
    if found_digest != digest:
        raise RuntimeError(f"the daemon serves {_described(checkpoint, digest)}, but a worker loading it now "
                           f"found {_described(found, found_digest)}: the file changed since the daemon loaded "
                           "it (`reload` loads it in the daemon and its workers alike)")


def _described(checkpoint: str | None, digest: str | None) -> str:
    return f"{checkpoint} (sha256 {digest[:12]})" if digest is not None else "untrained weights"


def _exit_with(daemon_pid: int) -> None:
    try:
        pidfd = os.pidfd_open(daemon_pid)
    except (AttributeError, OSError):  # no pidfd (old kernel): ask every second instead
        while _alive(daemon_pid):
            threading.Event().wait(_WATCHDOG_S)
    else:
        select.select([pidfd], [], [])  # readable once the daemon has exited
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def predict_chunk(sources: Sequence[str], top_k: int, include_embedding: bool,
                  projects: Sequence[ImportContext | None] | None = None) -> list[Any]:
    """In a worker: one forward pass for the chunk; a source over a limit gets its error as its result
    (raising would fail the whole chunk, and the pool would be taken for broken). `projects`, parallel
    to `sources`, is each source's project context (model.project.ImportContext, or None)."""
    options = {"top_k": top_k, "include_embedding": include_embedding}
    try:
        return _predictor.predict_sources(sources, projects=projects, **options)
    except SourceLimitError as exc:
        if len(sources) == 1:
            return [exc]
    results: list[Any] = []
    for position, source in enumerate(sources):
        own = [projects[position]] if projects is not None else None
        try:
            results.extend(_predictor.predict_sources([source], projects=own, **options))
        except SourceLimitError as exc:
            results.append(exc)
    return results


def embed_chunk(sources: Sequence[str]) -> list[Any]:
    """In a worker: each source's embedding (a float32 row), or its model error (syntax, a limit)."""
    return [_or_error(lambda source=source: _predictor.embed_sources([source])[0]) for source in sources]


def extract_chunk(sources: Sequence[str], max_nodes: int | None = None) -> list[Any]:
    """In a worker: each source's `model.prediction.FeatureExtraction`, or its model error (one of
    more than `max_nodes` nodes among them: refused here, so its features never cross the pipe)."""
    return [_or_error(lambda source=source: _predictor.extract_features(source, max_nodes=max_nodes))
            for source in sources]


def _or_error(compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except SourceError as exc:
        return exc


def _finished(future: Future[Any]) -> bool:
    """Done with a result: progress (not a cancel or a failure, which a given-up pool makes too)."""
    return future.done() and not future.cancelled() and future.exception() is None


@dataclass(slots=True)
class _Chunk:
    """A chunk out at the workers, as the progress watch sees it."""

    sent: float
    characters: int
    future: Future[Any]
    done: Callable[[list[Any] | BaseException], None]
    """Its once-only outcome callback."""
    running_since: float | None = None
    """When the watch first saw it handed to a worker (`Future.running`)."""

    @property
    def allowance(self) -> float:
        return CHUNK_DEADLINE_S + self.characters / CHARACTERS_PER_SECOND


def _once(done: Callable[[Any], None]) -> Callable[[Any], None]:
    """`done`, called at most once whoever calls it (a chunk's outcome, or its deadline)."""
    called = threading.Lock()

    def call_once(outcome: Any) -> None:
        if called.acquire(blocking=False):
            done(outcome)

    return call_once


class PredictionWorkers:
    """A pool of predicting processes: not started, starting, ready, or given up on."""

    def __init__(self, workers: int, *, max_code_bytes: int = BridgeConfig().max_code_bytes,
                 confidence_pass_rate: float | None = None) -> None:
        self.workers = workers
        self._max_code_bytes = max_code_bytes
        self._confidence_pass_rate = confidence_pass_rate
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._started = False
        self._ready = threading.Event()
        self._settled = threading.Event()
        """Set once starting has ended, either way."""
        self._broken = False
        self._watched: list[_Chunk] = []
        """The chunks out at the workers, oldest first."""
        self._watcher: threading.Thread | None = None
        self._progress = 0.0
        """When a chunk last finished, or an idle pool was sent one (time.monotonic)."""
        self._cutoff: float | None = None
        """`give_up_at`'s time, once the daemon is stopping."""

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and not self._broken

    def start_in_background(self, checkpoint: str | None, digest: str | None) -> None:
        """Start the workers once, loading the daemon's model (`Predictor.checkpoint_identity`: the
        checkpoint's path and the digest of its bytes, or None and None); `ready` turns true when they
        are up, and never when the file at that path holds other bytes now."""
        with self._lock:
            if self._started or self.workers < 1:
                return
            self._started = True
        threading.Thread(target=self._start, args=(checkpoint, digest), name="bridge-workers-start",
                         daemon=True).start()

    def _start(self, checkpoint: str | None, digest: str | None) -> None:
        try:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["bridge.workers", "model.predictor"])
            executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_init_worker,
                initargs=(os.getpid(), checkpoint, digest, self._max_code_bytes, self._confidence_pass_rate)
            )
            warm = [executor.submit(predict_chunk, ["x = 1\n"], 0, False) for _ in range(self.workers)]
            for future in warm:
                future.result(timeout=60)
        except Exception as exc:
            self._broken = True
            self._settled.set()
            logger.warning("prediction workers failed to start (%s); predicting in the daemon", exc)
            return
        self._executor = executor
        self._ready.set()
        self._settled.set()
        logger.info("%d prediction worker(s) ready", self.workers)

    def submit(
        self,
        sources: Sequence[str],
        *,
        top_k: int,
        include_embedding: bool,
        projects: Sequence[ImportContext | None] | None = None,
        done: Callable[[list[Any] | BaseException], None],
    ) -> None:
        """Predict `sources` in a worker (`projects`: each one's project context, parallel to them);
        `done` gets the results (or the failure) on another thread, or on this one when the pool
        refuses the work (a worker has died since: the pool is broken)."""
        assert self._executor is not None, "submit before ready"
        if self._broken:  # given up since the caller asked whether it is ready: predict in the daemon
            done(RuntimeError("the prediction workers were given up"))
            return
        chunk = list(projects) if projects is not None else None
        try:
            future = self._executor.submit(predict_chunk, list(sources), top_k, include_embedding, chunk)
        except Exception as exc:  # BrokenProcessPool, or shut down by a reload
            done(self._failed(exc))
            return
        once = _once(done)  # the outcome, or the pool given up as hung, whichever comes first
        self._watch(future, sum(map(len, sources)), once)
        future.add_done_callback(lambda f: self._progressed(once, self._outcome(f)))

    def give_up_at(self, when: float) -> None:
        """Fail every chunk still out at time `when` (time.monotonic): the drain at a stop, so that
        what a worker still holds is predicted in the daemon and answered before the daemon exits."""
        with self._lock:
            self._cutoff = when

    def _progressed(self, done: Callable[[list[Any] | BaseException], None], outcome: list[Any] | BaseException
                    ) -> None:
        """A chunk's outcome: a finished one is progress (a cancelled or failed one is not)."""
        if not isinstance(outcome, BaseException):
            with self._lock:
                self._progress = time.monotonic()
        done(outcome)

    def _watch(self, future: Future[Any], characters: int, done: Callable[[list[Any] | BaseException], None]
               ) -> None:
        """Watch `future`'s chunk until it is done; start the watching thread if none runs."""
        with self._lock:
            refused = self._broken  # given up while this chunk was being sent
            if not refused:
                if not any(not chunk.future.done() for chunk in self._watched):
                    self._progress = time.monotonic()  # an idle pool starts its clock with this chunk
                self._watched.append(_Chunk(time.monotonic(), characters, future, done))
                if self._watcher is None:
                    self._watcher = threading.Thread(target=self._watch_progress, name="bridge-workers-progress",
                                                     daemon=True)
                    self._watcher.start()
        if refused:  # predict it in the daemon now, rather than wait behind a hung worker
            done(RuntimeError("the prediction workers were given up"))
            future.cancel()

    def _watch_progress(self) -> None:
        """The watching thread: while chunks are out, fail them all when the pool looks hung (see
        `_hung`), or at `give_up_at`'s time; ends once none is out."""
        while True:
            threading.Event().wait(_WATCHDOG_S)
            with self._lock:
                out = [chunk for chunk in self._watched if not chunk.future.done()]
                why = self._hung(time.monotonic(), out)
                self._watched = [] if why else out
                self._broken = self._broken or why is not None  # under the lock: `_watch` sees it at once
                finished = not self._watched
                if finished:
                    self._watcher = None
            if why:
                failure = self._failed(TimeoutError(f"prediction workers gave up: {why}"))
                for chunk in out:
                    chunk.done(failure)  # first: cancelling runs the future's callback, which `done` then ignores
                    chunk.future.cancel()  # one not yet handed to a worker never runs there
            if finished:
                return

    def _hung(self, now: float, out: list[_Chunk]) -> str | None:
        """Why the chunks out should be given up, or None. Under the lock. The pool is hung when no
        chunk finished for the oldest one's allowance, or the oldest has been at a worker for twice
        its own. Only the oldest: the call queue is first in, first out, so the oldest is at a
        worker (or behind large sources of `run_now`, 45 s at most each), while a younger chunk
        that `running()` calls handed over may wait behind older ones of any size. `out`: the
        watched chunks not done, oldest first."""
        if any(_finished(chunk.future) for chunk in self._watched):
            self._progress = max(self._progress, now)  # one finished since the last look (its callback may lag)
        if out and out[0].running_since is None and out[0].future.running():
            out[0].running_since = now  # the oldest only: a younger one may wait behind older ones, though running()
        if not out:
            return None
        if self._cutoff is not None and now >= self._cutoff:
            return "the daemon is stopping"
        oldest = out[0]
        idle = now - max(self._progress, oldest.sent)
        if idle > oldest.allowance:
            return f"no chunk finished in {idle:.1f} s (allowed {oldest.allowance:.1f} s)"
        if oldest.running_since is not None and now - oldest.running_since > 2 * oldest.allowance:
            return f"a chunk has been at a worker for {now - oldest.running_since:.1f} s"
        return None

    def wait_ready(self, timeout: float) -> bool:
        """Whether the workers are up, waiting at most `timeout` s for a start under way to end."""
        if self._started:
            self._settled.wait(timeout)
        return self.ready

    def run_now(self, chunk_function: Callable[..., list[Any]], *args: Any) -> list[Any] | BaseException:
        """`chunk_function(*args)` (`predict_chunk`, `embed_chunk` or `extract_chunk`) in a worker,
        waiting for the outcome: for a thread that may block (the slow lane)."""
        assert self._executor is not None, "run_now before ready"
        try:
            future = self._executor.submit(chunk_function, *args)
        except Exception as exc:
            return self._failed(exc)
        return self._outcome(future, RUN_NOW_DEADLINE_S)

    def _outcome(self, future: Future[Any], timeout: float | None = None) -> list[Any] | BaseException:
        try:
            return list(future.result(timeout))
        except TimeoutError as exc:  # our deadline, or (with none) the chunk's own error
            late = TimeoutError(f"a prediction worker took more than {timeout:.0f} s") if timeout is not None else exc
            return self._failed(late)
        except BaseException as exc:  # a worker died, or the pool was shut down: predict in the daemon
            return self._failed(exc)

    def _failed(self, exc: BaseException) -> BaseException:
        """Give the pool up (the callers predict in the daemon from now on) and return `exc` as the outcome."""
        if not self._broken:
            self._broken = True
            logger.warning("a prediction worker failed (%s); predicting in the daemon from now on", exc)
        return exc

    def close(self, timeout: float = 2.0) -> None:
        """Stop the workers, waiting at most `timeout` s (they also exit by themselves with the daemon)."""
        self._broken = True
        executor = self._executor
        if executor is None:
            return
        stopper = threading.Thread(target=executor.shutdown, kwargs={"cancel_futures": True}, daemon=True)
        stopper.start()
        stopper.join(timeout)
