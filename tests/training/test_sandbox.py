"""The sandbox: right verdicts on tiny programs, and it contains loops, memory bombs and the network."""

from __future__ import annotations

import pytest

from training.sandbox import network_isolation, run_tests


def test_a_program_whose_assertions_hold_passes():
    result = run_tests("def f(x):\n    return x + 1\n\nassert f(1) == 2\n")
    assert result.passed and result.status == "passed"


def test_a_failing_assertion_fails():
    result = run_tests("assert 1 + 1 == 3\n")
    assert not result.passed and result.status == "failed"


def test_the_last_line_a_program_prints_comes_back_as_its_output():
    result = run_tests("print('first')\nprint('last: ' + 'x' * 1000)\n")
    assert result.passed and result.output == "last: " + "x" * 1000


def test_an_exception_or_a_syntax_error_is_an_error():
    assert run_tests("1 / 0\n").status == "error"
    assert run_tests("def f(:\n").status == "error"


def test_leaving_early_is_not_passing():
    assert run_tests("import os\nos._exit(0)\nassert False\n").status == "error"
    assert run_tests("import sys\nsys.exit(0)\n").status == "error"


@pytest.mark.timeout(30)
def test_an_infinite_loop_is_killed_within_its_timeout():
    result = run_tests("while True:\n    pass\n", timeout_s=1.0)
    assert result.status == "timeout"
    assert result.duration_s < 5.0


def test_a_memory_bomb_is_caught():
    result = run_tests("x = bytearray(4 << 30)\n", memory_mb=256)
    assert result.status == "crashed"
    assert "MemoryError" in result.detail


def test_a_network_connection_is_refused():
    program = "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n"
    result = run_tests(program)
    assert result.status == "error"
    assert "network" in result.detail


def test_the_low_level_socket_module_is_refused_too():
    assert run_tests("import _socket\n_socket.socket()\n").status == "error"


def test_the_socket_type_under_its_other_names_is_refused_too():
    for program in ("import socket\nsocket.SocketType()\n", "import _socket\n_socket.SocketType()\n"):
        result = run_tests(program)
        assert result.status == "error" and "network" in result.detail, program


def test_the_program_runs_in_its_own_empty_directory_with_a_clean_environment():
    program = "import os\nassert set(os.listdir('.')) == {'program.py', 'stdout', 'stderr'}\n"
    program += "assert 'VIRTUAL_ENV' not in os.environ and 'PYTHONPATH' not in os.environ\n"
    program += "assert os.path.basename(os.getcwd()).startswith('yantra-sandbox-')\n"
    assert run_tests(program).passed


def test_network_isolation_reports_how_it_isolates():
    assert network_isolation() in {"namespace", "socket-patch"}
