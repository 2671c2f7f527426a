"""The lines a host inserts for a prediction's import suggestions: each name bound once."""

import subprocess
import sys

from model.prediction import ImportSuggestion, import_lines, statement_binds


def _suggest(*statements: str) -> list[ImportSuggestion]:
    return [ImportSuggestion(f"m{i}", 0.9 - i / 10, s) for i, s in enumerate(statements)]


def test_statement_binds_reads_each_form_the_predictor_writes():
    assert statement_binds("import os.path") == ["os"]
    assert statement_binds("import numpy as np") == ["np"]
    assert statement_binds("from typing import Any, Dict") == ["Any", "Dict"]
    assert statement_binds("from a.b import c as d, e") == ["d", "e"]


def test_a_later_suggestion_for_names_an_earlier_one_binds_adds_no_line():
    lines = import_lines(_suggest("from collections.abc import Callable, Iterable",
                                  "from typing import Callable, Iterable", "import logging", "from app import logging"))
    assert lines == ["from collections.abc import Callable, Iterable", "import logging"]


def test_a_from_line_keeps_only_the_names_still_unbound():
    lines = import_lines(_suggest("from math import sqrt", "from sympy import pi, sqrt as sqrt, exp"))
    assert lines == ["from math import sqrt", "from sympy import pi, exp"]


def test_a_submodule_import_after_its_package_is_kept_for_the_submodule_it_loads():
    lines = import_lines(_suggest("import matplotlib", "import matplotlib.pyplot", "import matplotlib",
                                  "import os.path"))
    assert lines == ["import matplotlib", "import matplotlib.pyplot", "import os.path"]
    assert import_lines(_suggest("import matplotlib.pyplot", "import matplotlib")) == ["import matplotlib.pyplot"]


def test_a_statement_of_two_lines_binds_both():
    lines = import_lines(_suggest("import math\nfrom math import sqrt", "from numpy import sqrt", "import math"))
    assert lines == ["import math", "from math import sqrt"]


def test_the_daemon_can_shape_replies_without_loading_numpy():
    # bridge.methods imports this module at start-up, before the model (and numpy) is wanted
    code = "import sys, model.prediction; print('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
