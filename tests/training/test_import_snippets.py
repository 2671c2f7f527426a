"""The everyday-snippet judge: suggested lines run in a fresh interpreter must bind what the code reads."""

from training import import_snippets
from training.import_snippets import SNIPPETS, Snippet, judge

HANDLERS = Snippet("handlers", "def f(p):\n    return logging.handlers.RotatingFileHandler(p), logging.DEBUG\n")


def test_a_package_import_that_leaves_the_submodule_unloaded_is_wrong():
    verdict, why = judge(HANDLERS, "import logging")
    assert verdict == "wrong" and why == "unbound: logging.handlers"
    assert judge(HANDLERS, "import logging.handlers") == ("right", "")


def test_an_unbound_name_or_a_line_that_fails_to_import_is_wrong_and_nothing_is_none():
    snippet = Snippet("two", "def f(x):\n    return sqrt(x) + log(x)\n")
    assert judge(snippet, "from math import sqrt") == ("wrong", "unbound: log")
    assert judge(snippet, "from nowhere_at_all import sqrt, log")[0] == "wrong"
    assert judge(snippet, "from math import log, sqrt") == ("right", "")
    assert judge(snippet, "") == ("none", "")


def test_code_whose_names_its_own_file_defines_must_get_nothing():
    own = Snippet("logger", "def f(x):\n    logger.debug(x)\n", needs_import=False)
    assert judge(own, "") == ("right", "")
    assert judge(own, "from asyncio.log import logger")[0] == "wrong"


def test_the_snippets_have_distinct_names_and_parse():
    assert len({s.name for s in SNIPPETS}) == len(SNIPPETS)
    assert all(compile(s.code, s.name, "exec") for s in SNIPPETS)
    assert sorted(import_snippets.__all__) == ["SNIPPETS", "Snippet", "judge", "main"]


def test_the_command_judges_every_snippet_with_the_shipped_checkpoint(capsys):
    assert import_snippets.main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SNIPPETS) + 1 and lines[-1].endswith(f"(of {len(SNIPPETS)}; "
                                                                   f"{import_snippets.SHIPPED_CHECKPOINT})")
    assert all(line.split()[0] in ("right", "wrong", "none") for line in lines[:-1])
