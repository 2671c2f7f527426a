"""The methods the daemon answers: which lane each runs on, and how a model result becomes a reply.

Owns the handlers (initialize, ping, health, predict, extract_features, embed, model_info and its alias
get_model_info, reload, shutdown, exit, $/cancelRequest), the code-size limit, and the shaping of
model/ result types into the wire dicts that protocol.methods documents (built directly, without
pydantic, on the hot path). Parsing params is protocol's `validate_params`; threads, queues and the
lifecycle are the server's; replies are the dispatcher's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from bridge.dispatcher import Job, Lane, Route
from bridge.server import EXIT_OK, EXIT_WITHOUT_SHUTDOWN, ForwardTask, Lifecycle
from model.prediction import import_lines  # numpy-free, unlike the rest of model/
from protocol.errors import LimitExceeded, MethodNotFound, ServerShuttingDown
from protocol.methods import METHODS, validate_params

if TYPE_CHECKING:  # the rest of model/ loads numpy: the daemon imports it only once the model is wanted
    import numpy as np

    from bridge.server import Server
    from model.prediction import FeatureExtraction, Prediction

__all__ = [
    "BULK_CODE_CHARS",
    "MAX_EXTRACT_NODES",
    "PROTOCOL_VERSION",
    "SERVER_NAME",
    "BridgeMethods",
    "embedding_result",
    "extraction_result",
    "prediction_result",
]

SERVER_NAME = "yantra-bridge"
PROTOCOL_VERSION = "1.0"

_ALLOWED_AFTER_SHUTDOWN = frozenset({"ping", "health", "shutdown", "exit", "$/cancelRequest"})

BULK_CODE_CHARS = 64 * 1024
"""Code longer than this (a whole large module: a second or more of extraction) is scored in the
slow lane, so it never holds up the small predictions an editor sends while someone types."""


def _is_bulk(code: str | None) -> bool:
    return code is not None and len(code) > BULK_CODE_CHARS


@cache
def server_version() -> str:
    """The installed package's version (read once: importlib.metadata is slow)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("yantra-bridge")
    except PackageNotFoundError:
        return "0+unknown"


def prediction_result(prediction: Prediction, *, top_k: int, include_embedding: bool, model: dict) -> dict:
    """A model.prediction.Prediction as the `predict` result, keeping the original host's keys."""
    imports = prediction.imports[:top_k]
    bugs = prediction.bugs[:top_k]
    result: dict[str, Any] = {
        "code_suggestion": "\n".join(import_lines(imports)),
        "confidence": float(prediction.confidence),
        "next_function": None,
        "predicted_imports": [suggestion.module for suggestion in imports],
        "potential_bugs": list(dict.fromkeys(bug.kind for bug in bugs)),  # two sites may hold one kind
        "imports": [{"module": s.module, "score": float(s.score), "statement": s.statement} for s in imports],
        "bugs": [{"kind": b.kind, "score": float(b.score), "line": b.line, "column": b.column} for b in bugs],
        "model": model,
    }
    if include_embedding and prediction.embedding is not None:
        result["embedding"] = prediction.embedding.tolist()
    return result


def embedding_result(row: np.ndarray) -> dict:
    """One L2-normalised embedding row as the `embed` result."""
    values = row.tolist()
    return {"embedding": values, "dim": len(values)}


MAX_EXTRACT_NODES = 2_000
"""Graph nodes an `extract_features` reply may hold: 978 numbers each, about 8.5 KB of JSON and 31 KB
of Python floats while it is written. 2,000 make a 17 MB reply; the 20,000 units code may have would
make a 170 MB one and take the daemon past a gigabyte, which it would keep. Checked where the graph is
built (`Predictor.extract_features`), so a worker does not send the features back to be refused."""


def extraction_result(extraction: FeatureExtraction) -> dict:
    """A model.prediction.FeatureExtraction as the `extract_features` result."""
    return {
        "features": extraction.features.tolist(),
        "nodes": [
            {"name": n.name, "kind": n.kind, "line": n.line, "features": n.features.tolist()} for n in extraction.nodes
        ],
        "categories": [{"name": c.name, "start": c.start, "end": c.end} for c in extraction.categories],
    }


def _validating(method: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler, fed the params model that protocol's `validate_params` makes of the raw params."""
    return lambda params, *job: handler(validate_params(method, params), *job)


class BridgeMethods:
    """The router the dispatcher consults: one route per method name."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._model_summary: dict | None = None
        inline: dict[str, Callable[[Any], Any]] = {
            "initialize": self.initialize,
            "ping": self.ping,
            "health": self.health,
            "model_info": self.model_info,
            "get_model_info": self.model_info,
            "shutdown": self.shutdown,
            "exit": self.exit,
            "$/cancelRequest": self.cancel,
        }
        queued: dict[str, Callable[[Any, Job], None]] = {
            "predict": self.predict,
            "embed": self.embed,
            "extract_features": self.extract_features,
            "reload": self.reload,
        }
        self._routes: dict[str, Route] = {
            **{name: Route(Lane.INLINE, _validating(name, handler)) for name, handler in inline.items()},
            **{name: Route(Lane.QUEUED, _validating(name, handler)) for name, handler in queued.items()},
        }
        # `exit` is a notification: an error about its params could never be sent, and the host has
        # asked to stop, so whatever params it carries are ignored rather than refused unseen.
        self._routes["exit"] = Route(Lane.INLINE, lambda params, *job: self.exit(None))
        missing = set(METHODS) ^ set(self._routes)
        assert not missing, f"methods handled here and in protocol.methods differ: {sorted(missing)}"

    # -- routing --------------------------------------------------------------------------------

    def route(self, method: str) -> Route:
        """The route for `method`; after `shutdown` only the lifecycle methods are routed."""
        route = self._routes.get(method)
        if route is None:
            raise MethodNotFound(f"Method not found: {method!r}", method=method)
        if self._server.state is not Lifecycle.RUNNING and method not in _ALLOWED_AFTER_SHUTDOWN:
            raise ServerShuttingDown(f"Server shutting down: {method!r} is refused after shutdown")
        return route

    # -- inline methods -------------------------------------------------------------------------

    def initialize(self, params: Any) -> dict:
        """Optional handshake: who we are, what we answer, our limits and model (nothing is negotiated)."""
        return {
            "server": {"name": SERVER_NAME, "version": server_version()},
            "protocol_version": PROTOCOL_VERSION,
            "methods": sorted(self._routes),
            "limits": self._server.config.limits(),
            "model": self.model_info(params),
        }

    def ping(self, params: Any) -> str:
        """Liveness at once, whatever else is running."""
        return "pong"

    def health(self, params: Any) -> dict:
        """Liveness, readiness and load, without waiting for the model."""
        slot = self._server.model
        return {
            "live": True,
            "ready": slot.ready,
            "trained": bool(slot.ready and self._model_meta()["trained"]),
            "queue_depth": self._server.queue_depth,
            "uptime_s": round(time.monotonic() - self._server.started, 3),
        }

    def model_info(self, params: Any) -> dict:
        """The predictor's own description once loaded; while loading (or failed), that status."""
        slot = self._server.model
        if slot.ready:
            return slot.wait().info()
        status, reason = ("loading", "the model is loading") if slot.loading else ("error", str(slot.error))
        return {
            "status": status,
            "version": None,
            "trained": False,
            "checkpoint": None,
            "model_size_mb": 0.0,
            "parameters": 0,
            "feature_dim": 0,
            "heads": {},
            "device": "cpu",
            "training": {},
            "reason": reason,
            "confidence_pass_rate": None,
        }

    def shutdown(self, params: Any) -> None:
        """LSP style: refuse new work from now on and wait for `exit`."""
        self._server.request_shutdown()

    def exit(self, params: Any) -> None:
        """Stop after the work already read: exit code 0 after `shutdown`, 1 without (the LSP rule)."""
        shut_down = self._server.state is Lifecycle.SHUTDOWN_REQUESTED
        self._server.request_stop("exit", EXIT_OK if shut_down else EXIT_WITHOUT_SHUTDOWN)

    def cancel(self, params: Any) -> None:
        """`$/cancelRequest`: the dispatcher answers the request -32800 unless it already finished."""
        self._server.dispatcher.cancel(params.id)

    # -- queued methods -------------------------------------------------------------------------

    def _check_code(self, code: str | None) -> None:
        """Refuse code over `--max-code-bytes` before any work is queued for it."""
        limit = self._server.config.max_code_bytes
        if code is None or len(code) * 4 <= limit:
            return  # at most 4 bytes per character: cannot exceed
        size = len(code.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise LimitExceeded(
                f"Limit exceeded: code of {size} bytes is larger than {limit} bytes",
                limit="code_bytes",
                maximum=limit,
                actual=size,
            )

    def predict(self, params: Any, job: Job) -> None:
        """Queue for the next forward pass (a large module goes to the slow lane instead); with a
        `path`, the code's project goes with it (None until the project is indexed)."""
        self._check_code(params.code)
        task = ForwardTask(
            job,
            params.code,
            params.features,
            self._shape_prediction,
            top_k=params.top_k,
            include_embedding=params.include_embedding,
            project=self._project(params),
        )
        if _is_bulk(params.code):
            self._server.slow.submit(job, partial(self._predict_bulk, task))
        else:
            self._server.forward.submit(task)

    def _predict_bulk(self, task: ForwardTask) -> Any:
        """A large module: in a worker process when one is up, so its parse leaves this one's lock free."""
        return task.shape(task, self._server.forward.predict_large(task))

    def _project(self, params: Any) -> Any:
        """`params.path`'s project as seen from that file (a model.project.ProjectView), or None: no
        path, no code, `--no-project-index`, or the project not indexed yet (bridge.projects)."""
        projects = self._server.projects
        if projects is None or params.path is None or params.code is None or params.top_k <= 0:
            return None  # (top_k 0 asks for no imports: a view would only split the cache)
        return projects.view(params.path)

    def _shape_prediction(self, task: ForwardTask, prediction: Any) -> dict:
        """The reply says the model that made the prediction: a reload may have swapped it since."""
        stamp = prediction.model
        model = {"version": stamp.version, "trained": stamp.trained} if stamp is not None else self._model_meta()
        return prediction_result(prediction, top_k=task.top_k, include_embedding=task.include_embedding, model=model)

    def embed(self, params: Any, job: Job) -> None:
        """Queue for the next forward pass, embeddings only (a large module goes to the slow lane)."""
        self._check_code(params.code)
        if _is_bulk(params.code):
            self._server.slow.submit(job, lambda: embedding_result(self._server.forward.embed_large(params.code)))
            return
        task = ForwardTask(job, params.code, params.features, lambda _task, row: embedding_result(row))
        task.embed_only = True
        self._server.forward.submit(task)

    def extract_features(self, params: Any, job: Job) -> None:
        """Per-node features are large and never batched: the slow lane (a large module's in a worker
        process when one is up, as `_predict_bulk`)."""
        self._check_code(params.code)
        self._server.slow.submit(job, partial(self._extract, params.code))

    def _extract(self, code: str) -> dict:
        """Refused past MAX_EXTRACT_NODES nodes where the graph is built, in a worker or here."""
        if _is_bulk(code):
            return extraction_result(self._server.forward.extract_large(code, MAX_EXTRACT_NODES))
        return extraction_result(self._server.model.wait().extract_features(code, max_nodes=MAX_EXTRACT_NODES))

    def reload(self, params: Any, job: Job) -> None:
        """Load a checkpoint in the slow lane; on success the worker processes are replaced too."""
        model = self._server.model

        def reload_now() -> dict:
            committed: list[bool] = []  # the one claim of the reply, made at the swap

            def cancelled() -> bool:  # from the swap on, a cancel is too late: the reply is the result
                committed.append(job.commit())
                return not committed[-1]

            info = model.wait().reload(params.path, cancelled=cancelled)
            if committed == [True]:  # swapped in: forget the old model's answers and workers
                self._model_summary = None
                self._server.forward.model_changed()
            return info

        self._server.slow.submit(job, reload_now)

    def _model_meta(self) -> dict:
        """`{"version", "trained"}` of the serving model, recomputed only after a reload."""
        summary = self._model_summary
        if summary is None:
            info = self._server.model.wait().info()
            summary = self._model_summary = {"version": info["version"], "trained": bool(info["trained"])}
        return summary
