"""Command-line flags: defaults from the issue, validation, and bounds kept equal to protocol's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bridge.config import DEFAULT_MAX_DEPTH, MAX_SUPPORTED_DEPTH, BridgeConfig, auto_workers, parse_args
from protocol import framing


def test_the_defaults_are_the_issues_limits():
    config = parse_args([])
    assert config == BridgeConfig()
    assert config.max_line_bytes == 16 * 1024 * 1024
    assert config.max_batch == 1000
    assert config.max_code_bytes == 2 * 1024 * 1024
    assert config.log_level == "warning" and config.checkpoint is None and not config.print_schema
    assert config.project_index


def test_the_json_depth_bounds_are_protocols_own():
    assert (DEFAULT_MAX_DEPTH, MAX_SUPPORTED_DEPTH) == (framing.DEFAULT_MAX_DEPTH, framing.MAX_SUPPORTED_DEPTH)


def test_reading_the_flags_loads_no_pydantic():
    # the reader starts before the heavy imports; protocol's __init__ re-exports lazily for this
    code = "import sys, bridge.config; print(sorted(m for m in ('pydantic', 'numpy') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_every_flag_reaches_the_config():
    config = parse_args(
        [
            "--log-level=debug",
            "--max-line-bytes=100",
            "--max-batch=3",
            "--max-json-depth=9",
            "--max-code-bytes=50",
            "--queue-size=7",
            "--max-forward-batch=4",
            "--workers=0",
            "--checkpoint=/tmp/x.safetensors",
            "--confidence-pass-rate=0.4",
            "--print-schema",
            "--no-project-index",
        ]
    )
    assert config == BridgeConfig("debug", 100, 3, 9, 50, 7, 4, 0, "/tmp/x.safetensors", 0.4, True, False)


def test_the_project_index_is_on_unless_turned_off_and_help_says_what_it_does(capsys):
    assert parse_args(["--project-index"]).project_index
    assert not parse_args(["--no-project-index"]).project_index
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert "--project-index, --no-project-index" in usage and "suggest its own modules as imports" in usage


@pytest.mark.parametrize(
    "flag", ["--max-batch=0", "--max-line-bytes=-1", "--max-json-depth=513", "--workers=-1", "--log-level=loud",
             "--confidence-pass-rate=1", "--confidence-pass-rate=0", "--confidence-pass-rate=nan"]
)
def test_a_bad_value_is_refused_with_usage_exit_code_two(flag, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args([flag])
    assert exited.value.code == 2
    assert flag.split("=")[0] in capsys.readouterr().err


@pytest.mark.parametrize(("cpus", "workers"), [(1, 0), (2, 1), (3, 2), (5, 4), (64, 4)])
def test_auto_workers_leaves_one_cpu_to_the_daemon_and_caps_at_four(cpus, workers):
    assert auto_workers(cpus) == workers


def test_workers_may_be_auto_or_a_count():
    assert parse_args(["--workers=auto"]).workers == auto_workers()
    assert parse_args(["--workers=3"]).workers == 3


def test_limits_lists_what_initialize_reports():
    assert set(BridgeConfig().limits()) == {
        "max_line_bytes",
        "max_batch",
        "max_json_depth",
        "max_code_bytes",
        "queue_size",
    }


def test_the_model_takes_its_code_size_bound_from_the_daemon_s_flag():
    from bridge.server import ModelSlot
    from model.errors import SourceLimitError

    slot = ModelSlot(None, max_code_bytes=100)
    slot.start_loading()
    with pytest.raises(SourceLimitError) as caught:
        slot.wait().predict_sources(["x = 1\n" * 50])
    assert caught.value.maximum == 100


def test_a_hosts_pass_rate_is_read_as_a_number_and_is_off_by_default():
    assert parse_args([]).confidence_pass_rate is None
    assert parse_args(["--confidence-pass-rate", "0.35"]).confidence_pass_rate == 0.35
