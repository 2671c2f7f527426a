"""Errors raised by the model package, each carrying what a caller needs to explain it.

    ModelError
    ├── SourceError              code that cannot be turned into a graph
    │   ├── SourceSyntaxError    does not parse (line, column)
    │   └── SourceLimitError     too large or nested too deep (limit, maximum, actual)
    ├── FeatureVectorError       a host vector of the wrong length or with NaN/inf (expected, index)
    └── CheckpointError          a checkpoint that cannot be loaded (path; the message says why)

The daemon maps these to JSON-RPC errors; this module knows nothing of the wire.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "FeatureVectorError",
    "ModelError",
    "SourceError",
    "SourceLimitError",
    "SourceSyntaxError",
]


class ModelError(Exception):
    """Base class of every error the model package raises on purpose."""

    def __reduce__(self) -> tuple:
        """Pickle with the keyword fields (worker processes send these errors back to the daemon):
        the default rebuilds an exception from `args` alone, which keyword-only constructors refuse."""
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type[ModelError], args: tuple, fields: dict) -> ModelError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(fields)
    return error


class SourceError(ModelError):
    """The source code cannot be turned into a graph."""


class SourceSyntaxError(SourceError):
    """The source does not parse; `line` and `column` are 1-based, as in tracebacks."""

    def __init__(self, message: str, *, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


class SourceLimitError(SourceError):
    """The source exceeds a bound (size, nesting) that keeps extraction fast and safe."""

    def __init__(self, message: str, *, limit: str, maximum: int, actual: int | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.maximum = maximum
        self.actual = actual
        self.line = line
        """Where the source crosses the bound, when known (1-based, as a syntax error's)."""
        self.column = column


class FeatureVectorError(ModelError):
    """A host-supplied feature vector is not `expected` finite numbers."""

    def __init__(self, message: str, *, expected: int, index: int | None = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.index = index


class CheckpointError(ModelError):
    """A checkpoint is missing, corrupt, or does not match this code's model or feature layout."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path
