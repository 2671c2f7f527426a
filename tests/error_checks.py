"""The check that an error's `data` is what `--print-schema` publishes for its code, shared by the
protocol and bridge tests; it imports the protocol package alone."""

from __future__ import annotations

from protocol.error_data import ERROR_DATA, LIMIT_NAMES
from protocol.errors import LIMIT_EXCEEDED


def assert_documented_error(error: dict) -> None:
    """`error`'s data is what `protocol.error_data` says its code carries (no other key, the right
    types), or absent for a code that carries none: what `--print-schema` publishes holds."""
    model = ERROR_DATA.get(error["code"])
    if model is None:
        assert "data" not in error, error
    elif "data" in error:
        model.model_validate(error["data"])
        if error["code"] == LIMIT_EXCEEDED:  # an open string in the schema; the daemon's own names here
            assert error["data"]["limit"] in LIMIT_NAMES, error
