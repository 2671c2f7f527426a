"""The label vocabularies the heads predict over, and the ones the untrained fallback uses.

A trained checkpoint carries its own vocabularies (what training saw); these defaults exist so that
the untrained fallback still speaks in real names: the standard library's module names for the
imports head, and the bug kinds the training package knows how to inject.
"""

from __future__ import annotations

import sys

__all__ = ["BUG_KINDS", "SYNTAX_ERROR", "default_import_vocabulary"]

BUG_KINDS: tuple[str, ...] = (
    "variable_misuse",
    "wrong_binary_operator",
    "wrong_comparison_operator",
    "wrong_boolean_operator",
    "off_by_one",
    "wrong_literal",
    "swapped_arguments",
    "swapped_operands",
    "negated_condition",
)
"""Bug kinds in head order: the rewrites of BugLab and DeepBugs that `training.mutations` injects."""

SYNTAX_ERROR = "syntax_error"
"""The bug kind reported for code that does not parse; it comes from the parser, not a head."""


def default_import_vocabulary() -> list[str]:
    """Public standard-library module names, sorted: real names for an untrained imports head."""
    return sorted(name for name in sys.stdlib_module_names if not name.startswith("_"))
