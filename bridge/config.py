"""The daemon's settings: one frozen dataclass and the command line that fills it.

Owns the flag names, their defaults and their validation. What the limits mean on the wire (which
error a breach gets) is the dispatcher's business; how the model finds its checkpoint is model/'s.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from protocol.framing import DEFAULT_MAX_DEPTH, MAX_SUPPORTED_DEPTH  # no pydantic: protocol loads lazily

__all__ = ["DEFAULT_MAX_DEPTH", "LOG_LEVELS", "MAX_SUPPORTED_DEPTH", "BridgeConfig", "auto_workers", "parse_args"]

MIB = 1024 * 1024

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")



@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """Everything the daemon needs to know before it reads its first line."""

    log_level: str = "warning"
    max_line_bytes: int = 16 * MIB
    """Longest input line accepted; a longer one is skipped and answered LIMIT_EXCEEDED."""
    max_batch: int = 1000
    """Most messages in one JSON-RPC batch array."""
    max_json_depth: int = DEFAULT_MAX_DEPTH
    """Deepest nesting of arrays and objects in one message."""
    max_code_bytes: int = 2 * MIB
    """Largest `code` param, in UTF-8 bytes."""
    queue_size: int = 4096
    """Requests that may wait in each of the two queues (small predictions and embeddings in one,
    everything else in the other); one more in a full queue is answered SERVER_BUSY."""
    max_forward_batch: int = 256
    """Most queued predictions taken into one forward pass."""
    workers: int = field(default_factory=lambda: auto_workers())
    """Processes that predict when requests pile up (0: the daemon alone)."""
    checkpoint: str | None = None
    confidence_pass_rate: float | None = None
    """How often the host's code passes its tests, if it knows: confidence is restated for that rate."""
    print_schema: bool = False
    project_index: bool = True
    """Index the project a `predict`'s `path` lies in and suggest its own modules as imports."""

    def limits(self) -> dict[str, int]:
        """The limits as the host sees them (in `initialize`)."""
        return {
            "max_line_bytes": self.max_line_bytes,
            "max_batch": self.max_batch,
            "max_json_depth": self.max_json_depth,
            "max_code_bytes": self.max_code_bytes,
            "queue_size": self.queue_size,
        }


def auto_workers(cpus: int | None = None) -> int:
    """Worker processes worth having: one per CPU beyond the daemon's own, at most 4.

    They start only when predictions pile up (a host that asks one thing at a time never pays for
    them), so an idle or sequential host keeps its CPUs. Measured on 2 CPUs with the extractor
    compiled, before bug sites were scored: one worker took pipelined throughput from 1,260-1,500 to
    2,140-2,180 predictions/s, and the sequential round trip was no slower (the README gives today's
    figures, with one worker).
    """
    return max(0, min(4, (cpus if cpus is not None else os.cpu_count() or 1) - 1))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _json_depth(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_SUPPORTED_DEPTH:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SUPPORTED_DEPTH}, got {value}")
    return value


def _open_unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return value


def _worker_count(text: str) -> int:
    if text == "auto":
        return auto_workers()
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 'auto' or at least 0, got {value}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    defaults = BridgeConfig()
    parser = argparse.ArgumentParser(
        prog="yantra-bridge",
        description="Code-intelligence sidecar for the Yantra editor: JSON-RPC 2.0, one message per line "
        "on stdin/stdout. Logs go to stderr.",
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=defaults.log_level,
                        help="what goes to stderr (default: %(default)s)")
    parser.add_argument("--max-line-bytes", type=_positive_int, default=defaults.max_line_bytes,
                        help="longest input line; a longer one is answered -32002 (default: %(default)s, "
                        f"{defaults.max_line_bytes / MIB:g} MiB)")
    parser.add_argument("--max-batch", type=_positive_int, default=defaults.max_batch,
                        help="most messages in one batch (default: %(default)s)")
    parser.add_argument("--max-json-depth", type=_json_depth, default=defaults.max_json_depth,
                        help=f"deepest nesting of arrays and objects in a message, at most {MAX_SUPPORTED_DEPTH} "
                        "(default: %(default)s)")
    parser.add_argument("--max-code-bytes", type=_positive_int, default=defaults.max_code_bytes,
                        help="largest `code` param, in UTF-8 bytes (default: %(default)s, "
                        f"{defaults.max_code_bytes / MIB:g} MiB)")
    parser.add_argument("--queue-size", type=_positive_int, default=defaults.queue_size,
                        help="requests that may wait in each of the two queues; one more is answered 'busy', "
                        "-32000 (default: %(default)s)")
    parser.add_argument("--max-forward-batch", type=_positive_int, default=defaults.max_forward_batch,
                        help="most predictions scored in one forward pass (default: %(default)s)")
    parser.add_argument(
        "--workers",
        type=_worker_count,
        default="auto",
        help="processes that predict when requests pile up: a number (0: the daemon alone) or 'auto' "
        "(one per CPU beyond the first, at most 4; the default)",
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint to load (default: $YANTRA_CHECKPOINT, the user's, then the shipped one)",
    )
    parser.add_argument(
        "--confidence-pass-rate",
        type=_open_unit_interval,
        default=None,
        help="how often the host's code passes its tests (between 0 and 1, exclusive), if known: "
        "confidence is restated for it instead of the rate it was calibrated at (see model_info)",
    )
    parser.add_argument(
        "--project-index",
        action=argparse.BooleanOptionalAction,
        default=defaults.project_index,
        help="index the project that a predict's `path` lies in (in the background) and suggest its "
        "own modules as imports (default: on)",
    )
    parser.add_argument(
        "--print-schema",
        action="store_true",
        help="print the JSON Schema of every method's params and result, then exit",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> BridgeConfig:
    """Read the command line (argparse exits with code 2 and a message on bad flags)."""
    namespace = _build_parser().parse_args(argv)
    return BridgeConfig(**vars(namespace))
