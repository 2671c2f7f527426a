"""The training loop: configuration, pure helpers, and short real runs (plain, resumed, two processes)."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model.checkpoint import load_checkpoint
from model.confidence import confidence_scorer_from
from model.layout import FEATURE_LAYOUT_VERSION
from model.predictor import SHIPPED_CHECKPOINT
from tests.helpers import write_checkpoint
from training import site_probe
from training.logistic import fit_logistic
from training.train import (
    LOSS_WEIGHTS,
    ResumeError,
    RunError,
    TrainConfig,
    _contrastive,
    _device,
    _mutant_margin,
    _reseed_rank,
    _restart_metrics_log,
    _resumed_best,
    _stacked,
    best_f1_threshold,
    checked_state,
    main,
    parse_config,
    save_state,
    site_samples,
    steps_per_epoch,
    train,
)

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_come_from_the_dataclass_then_a_config_file_then_flags(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"epochs": 7, "lr": 0.01, "hidden_dims": [64, 32]}))
    config = parse_config(["--config", str(path), "--lr", "0.002", "--no-progress"])
    assert config.epochs == 7 and config.lr == 0.002 and config.hidden_dims == (64, 32)
    assert config.progress is False and config.batch_size == TrainConfig().batch_size


def test_an_unknown_config_key_is_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"epocs": 3}))
    with pytest.raises(SystemExit):
        parse_config(["--config", str(path)])


@pytest.mark.parametrize("fields", [
    {"epochs": "12"}, {"epochs": 2.5}, {"epochs": True}, {"lr": "0.01"}, {"progress": 1}, {"out_dir": 7},
    {"loss_weights": {"bugs": "x"}}, {"loss_weights": [1, 2]}, {"hidden_dims": 256}, {"hidden_dims": [64, "x"]},
    {"hidden_dims": [64, "32"]}, {"hidden_dims": []}, {"lr": 10**400}, {"loss_weights": {"bugs": 10**400}},
    {"hidden_dims": [8] * 17}, {"hidden_dims": [1 << 17]},
])
def test_a_config_files_values_are_checked_as_flags_are(tmp_path, fields, capsys):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(fields))
    with pytest.raises(SystemExit):
        parse_config(["--config", str(path)])
    assert next(iter(fields)).replace("_", "-") in capsys.readouterr().err.replace("_", "-")


def test_a_config_file_that_is_not_a_json_object_of_finite_numbers_is_refused_with_its_name(tmp_path, capsys):
    for text in ("[1, 2]", '{"lr": NaN}', "{", "", "[" * 100_000):
        path = tmp_path / "run.json"
        path.write_text(text)
        with pytest.raises(SystemExit):
            parse_config(["--config", str(path)])
        assert "run.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_config(["--config", str(tmp_path / "missing.json")])


def test_a_config_file_may_give_whole_floats_null_and_a_list_of_dims(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"epochs": 4e0, "max_files": None, "hidden_dims": [64, 32.0], "lr": 1,
                                "loss_weights": {"bugs": 2}}))
    config = parse_config(["--config", str(path)])
    assert config.epochs == 4 and isinstance(config.epochs, int) and config.max_files is None
    assert config.hidden_dims == (64, 32) and config.lr == 1.0
    assert config.loss_weights == {**LOSS_WEIGHTS, "bugs": 2.0}  # the tasks not named keep their weights


@pytest.mark.parametrize("flags", [
    ["--epochs", "0"], ["--batch-size", "0"], ["--batch-size", "-4"], ["--max-steps-per-epoch", "-1"],
    ["--validation-limit", "0"], ["--early-stopping-patience", "0"], ["--checkpoint-every", "-1"],
    ["--max-files", "-1"], ["--seed", "-1"], ["--seed", "1e30"], ["--threads", "-1"], ["--dropout", "1.5"],
    ["--lr", "-1"], ["--lr", "0"], ["--plateau-factor", "2"], ["--embedding-temperature", "0"],
    ["--bug-false-alarm-rate", "1"], ["--loss-weights", '{"bugz": 5}'], ["--loss-weights", '{"bugs": -1}'],
    ["--device", "bogus"], ["--ship", "--smoke"], ["--device", "meta"], ["--device", "xpu"], ["--resume", ""],
    ["--out-dir", ""], ["--out-dir", "  "],
])
def test_a_value_no_run_can_use_is_refused_before_any_data_is_built(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(flags)
    assert exit_info.value.code == 2 and flags[0] in capsys.readouterr().err


def test_loss_weights_that_are_not_json_say_what_the_flag_wants(capsys):
    with pytest.raises(SystemExit):
        parse_config(["--loss-weights", "bugs=1"])
    assert "expected a JSON object such as" in capsys.readouterr().err


def test_help_shows_each_default_and_which_source_wins(capsys):
    with pytest.raises(SystemExit):
        parse_config(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"--epochs EPOCHS (int; default {TrainConfig().epochs})" in shown
    assert "--smoke, --no-smoke (default False)" in shown
    assert "overrides the same field of --config" in shown and "default runs/train" in shown


def test_resume_takes_a_runs_folder_for_its_state(tmp_path):
    assert TrainConfig(resume=str(tmp_path)).resume == str(tmp_path / "state.pt")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_asked_for_on_a_machine_without_one_is_refused_plainly(capsys):
    with pytest.raises(SystemExit):
        parse_config(["--device", "cuda"])
    assert "sees no CUDA GPU here" in capsys.readouterr().err


def test_the_bug_site_scorers_read_more_units_per_package_than_the_network_but_a_smoke_run_keeps_its_own():
    config = parse_config(["--max-units-per-package", "300", "--site-units-per-package", "900"])
    assert config.data_config().max_units_per_package == 300
    assert config.site_data_config() == dataclasses.replace(config.data_config(), max_units_per_package=900)
    smoke = parse_config(["--smoke", "--site-units-per-package", "900"])
    assert smoke.site_data_config() == smoke.data_config()


def test_the_f1_threshold_separates_perfectly_separated_scores():
    truth = np.array([0, 0, 0, 1, 1] * 40, dtype=float)
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9] * 40)
    threshold = best_f1_threshold(truth, scores)
    assert 0.3 < threshold <= 0.8


def test_the_f1_threshold_keeps_every_score_it_was_chosen_at():
    # many samples share one score (a lone project name's import score): the best threshold is that
    # score, and four places rounded to nearest (0.3457) would have dropped all of them
    shared = 0.34566020704767136
    truth = np.array([1] * 30 + [0] * 10 + [0] * 60, dtype=float)
    scores = np.array([shared] * 40 + [0.1] * 60)
    threshold = best_f1_threshold(truth, scores)
    assert threshold == 0.3456 and shared >= threshold


def test_the_contrastive_loss_prefers_an_anchor_near_its_variant_to_one_near_its_mutant():
    anchors = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    near = torch.nn.functional.normalize(anchors + 0.01 * torch.randn(8, 16), dim=1)
    far = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    assert _contrastive(anchors, near, far, 0.1) < _contrastive(anchors, far, near, 0.1)


def test_the_mutant_margin_is_zero_once_every_variant_is_closer_by_the_margin_and_positive_otherwise():
    anchors = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    far = torch.nn.functional.normalize(torch.randn(8, 16) - 4 * anchors, dim=1)
    assert _mutant_margin(anchors, anchors, far, 0.2).item() == 0.0
    assert _mutant_margin(anchors, far, anchors, 0.2).item() > 0.2


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("data-cache"))


def _smoke(out: Path, cache: str, **overrides) -> TrainConfig:
    values = dict(smoke=True, epochs=2, max_steps_per_epoch=3, batch_size=8, hidden_dims=(32, 32, 16),
                  embedding_dim=16, out_dir=str(out), cache_dir=cache, progress=False, featurize_workers=1,
                  validation_limit=40, threads=1)
    values.update(overrides)
    return TrainConfig(**values)


def test_a_named_gpu_is_each_torchrun_ranks_own_and_a_named_cpu_stays_the_cpu():
    assert _device("cuda", 1) == torch.device("cuda", 1)  # not cuda:0 for every rank
    assert _device("cpu", 1) == torch.device("cpu")


def test_a_smoke_run_writes_best_last_and_periodic_checkpoints_and_a_metrics_log(tmp_path, data_cache):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "val_loss": 9.0}\n{"epoch": 7, "val_loss": 9.0}\n')
    for name in ("epoch-007.safetensors", "epoch-1000.safetensors", "epoch-7.safetensors"):
        (tmp_path / name).write_bytes(b"an earlier run's")
    best = train(_smoke(tmp_path, data_cache, checkpoint_every=1), log=lambda *_: None)
    assert not (tmp_path / "epoch-007.safetensors").exists()  # every file in the folder is this run's
    assert not (tmp_path / "epoch-1000.safetensors").exists() and (tmp_path / "epoch-7.safetensors").exists()
    checkpoint = load_checkpoint(best, expected_layout_version=FEATURE_LAYOUT_VERSION)
    assert checkpoint.training["trained"] is True and "thresholds" in checkpoint.training
    assert checkpoint.training["data"]["units"] > 0 and checkpoint.training["epoch"] in (1, 2)
    assert {"when", "commit", "machine", "duration_s", "metrics", "config"} <= set(checkpoint.training)
    assert checkpoint.training["device"] == "cpu (1 thread)"  # the run's device, as its log said
    confidence = checkpoint.training["confidence_sites"]
    assert confidence["problems"] == 5 and confidence["recipe"]["mutants_per_kind"] == 3
    assert confidence_scorer_from(checkpoint.confidence_weights, confidence) is not None
    assert {"last.safetensors", "epoch-001.safetensors", "epoch-002.safetensors", "state.pt"} <= {
        p.name for p in tmp_path.iterdir()}
    assert (tmp_path / "curves.png").stat().st_size > 1000
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # a fresh log: the folder's old one is gone
    assert all(json.loads(line)["val_loss"] != 9.0 for line in lines)


def test_the_site_probe_refits_the_scorers_on_the_samples_training_gives_them_and_scores_both_held_splits(
        data_cache):
    config = _smoke(Path(data_cache), data_cache, site_hidden=8)
    sites = site_samples(config)
    assert sites.pairs and all(s.split == "train" for s in sites.pairs + sites.extra_mutants + sites.swapped)
    assert {s.kind for s in sites.swapped} == {"swapped_arguments"}
    chosen_on, metrics = site_probe.probe(config, str(SHIPPED_CHECKPOINT), log=lambda *_: None)
    for measured in (chosen_on, metrics):
        assert measured["score"] == "highest bug-site probability"  # the refitted scorers, not the head alone
        assert 0.0 <= measured["auroc"]["model"] <= 1.0 and measured["n_buggy"] > 0
    assert chosen_on["n_test"] != metrics["n_test"]  # two different splits
    assert site_probe.summary(metrics).startswith(f"test AUROC {metrics['auroc']['model']:.4f} ")
    assert site_probe.summary(chosen_on, "validation").startswith("validation AUROC ")


def test_two_runs_with_the_same_seed_give_the_same_weights(tmp_path, data_cache):
    first = train(_smoke(tmp_path / "a", data_cache, epochs=1), log=lambda *_: None)
    second = train(_smoke(tmp_path / "b", data_cache, epochs=1), log=lambda *_: None)
    a, b = (load_checkpoint(path, expected_layout_version=None) for path in (first, second))
    assert all(np.array_equal(a.weights[name], b.weights[name]) for name in a.weights)
    assert a.confidence_weights and all(np.array_equal(a.confidence_weights[name], b.confidence_weights[name])
                                        for name in a.confidence_weights)
    assert a.training["confidence_sites"]["combiner"] == b.training["confidence_sites"]["combiner"]


def test_a_run_resumes_from_its_state_at_the_next_epoch(tmp_path, data_cache):
    first = train(_smoke(tmp_path, data_cache, epochs=1), log=lambda *_: None)
    took = load_checkpoint(first, expected_layout_version=None).training["duration_s"]
    with open(tmp_path / "metrics.jsonl", "a") as log:  # an epoch of an abandoned run after the state
        log.write('{"epoch": 2, "val_loss": 9.0}\n')
    messages = []
    train(_smoke(tmp_path, data_cache, epochs=2, resume=str(tmp_path / "state.pt")), log=messages.append)
    assert any("resumed" in m and "epoch 2" in m for m in messages)
    last = load_checkpoint(tmp_path / "last.safetensors", expected_layout_version=None).training
    assert last["duration_s"] > took  # the run's clock, not the resumed process's alone
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2] and lines[1]["val_loss"] != 9.0  # the resumed run's epoch 2


def test_a_run_that_stopped_early_resumes_to_the_same_end_not_one_epoch_more(tmp_path, data_cache):
    never_better = {"early_stopping_patience": 1, "min_delta": 100.0}  # epoch 1 improves on inf, then none
    straight = train(_smoke(tmp_path / "a", data_cache, epochs=4, **never_better), log=lambda *_: None)
    train(_smoke(tmp_path / "b", data_cache, epochs=2, **never_better), log=lambda *_: None)
    messages = []
    resumed = train(_smoke(tmp_path / "b", data_cache, epochs=4, resume=str(tmp_path / "b" / "state.pt"),
                           **never_better), log=messages.append)
    assert any(m.startswith("early stopping after epoch 2") for m in messages)
    epochs = [[json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
              for run in (tmp_path / "a", tmp_path / "b")]
    assert epochs == [[1, 2], [1, 2]]
    a, b = (load_checkpoint(path, expected_layout_version=None).weights for path in (straight, resumed))
    assert all(np.array_equal(a[name], b[name]) for name in a)


def _state(path: Path, config: TrainConfig, best_epoch: int = 0) -> Path:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    save_state(path, model, optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer), 1, 1.0, 0, config,
               np.random.default_rng(0), best_epoch)
    return path


def test_a_state_that_cannot_continue_the_run_is_refused_before_any_data_is_built(tmp_path):
    config = TrainConfig(out_dir=str(tmp_path / "run"))
    state = _state(tmp_path / "state.pt", config)
    assert checked_state(state, dataclasses.replace(config, epochs=30, device="cpu", site_epochs=2))["epoch"] == 1
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "noise.pt").write_bytes(os.urandom(256))
    torch.save({"model": {}}, tmp_path / "partial.pt")
    for path, says in ((tmp_path / "missing.pt", "FileNotFoundError"), (tmp_path, "cannot read"),
                       (tmp_path / "empty.pt", "cannot read"), (tmp_path / "noise.pt", "cannot read"),
                       (tmp_path / "partial.pt", "lacks ['optimizer'")):
        with pytest.raises(ResumeError, match=re.escape(says)):
            checked_state(path, config)
    with pytest.raises(ResumeError, match=r"lr=0.001 \(now 0.5\), weight_decay=0.0001 \(now 0.0\)"):
        checked_state(state, dataclasses.replace(config, lr=0.5, weight_decay=0.0))
    with pytest.raises(ResumeError, match="hidden_dims"):
        checked_state(state, dataclasses.replace(config, hidden_dims=(64, 32)))
    (tmp_path / "alone").mkdir()  # a state copied without the best weights it names
    with pytest.raises(ResumeError, match="best weights beside its state"):
        checked_state(_state(tmp_path / "alone" / "state.pt", config, best_epoch=1), config)
    (tmp_path / "alone" / "best.safetensors").write_bytes(SHIPPED_CHECKPOINT.read_bytes())  # another network
    small = dataclasses.replace(config, hidden_dims=(32, 16))
    with pytest.raises(ResumeError, match="holds another network"):
        checked_state(_state(tmp_path / "alone" / "state.pt", small, best_epoch=1), small)


def test_the_command_answers_a_state_it_cannot_resume_with_an_error_not_a_traceback(tmp_path, capsys):
    flags = ["--smoke", "--no-progress", "--out-dir", str(tmp_path / "run"), "--resume", str(tmp_path / "none.pt")]
    assert main(flags) == 2
    assert "yantra-train: error: --resume: cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--out-dir", "--cache-dir"])
def test_a_folder_the_run_cannot_write_in_is_refused_before_any_data_is_built(flag, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    flags = {"--out-dir": str(tmp_path / "run"), "--cache-dir": str(tmp_path / "cache"), flag: str(tmp_path / "file")}
    assert main(["--smoke", "--no-progress", *(item for pair in flags.items() for item in pair)]) == 2
    assert f"yantra-train: error: {flag} {tmp_path / 'file'}: cannot make it a folder" in capsys.readouterr().err


def test_a_fresh_run_into_a_folder_holding_another_run_is_refused_unless_told_to_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.pt").write_bytes(b"an earlier run's")
    assert main(["--smoke", "--no-progress", "--out-dir", str(run), "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert f"--out-dir {run} holds another run" in err and f"--resume {run / 'state.pt'}" in err
    assert (run / "state.pt").read_bytes() == b"an earlier run's"


def test_a_diverging_run_stops_with_a_message_naming_the_step_not_a_traceback(tmp_path, data_cache):
    with pytest.raises(RunError, match=r"epoch 1, step \d+: the loss became (nan|inf)"):
        train(_smoke(tmp_path, data_cache, lr=1e30), log=lambda *_: None)


@pytest.mark.parametrize("how", ["interrupt", "terminate"])
def test_an_interrupted_run_exits_130_saying_how_to_go_on(how, tmp_path, monkeypatch, capsys):
    def stopped(config, log):
        (Path(config.out_dir) / "state.pt").write_bytes(b"")
        if how == "terminate":  # a scheduler's preemption
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt

    monkeypatch.setattr("training.train.train", stopped)
    (tmp_path / "run").mkdir()
    assert main(["--smoke", "--out-dir", str(tmp_path / "run")]) == 130
    assert f"yantra-train: interrupted; go on with --resume {tmp_path / 'run' / 'state.pt'}" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back


def test_an_interrupted_run_that_wrote_no_state_yet_points_at_no_other_runs_state(tmp_path, monkeypatch, capsys):
    (tmp_path / "run").mkdir()
    earlier = tmp_path / "run" / "state.pt"
    earlier.write_bytes(b"an earlier run's")
    os.utime(earlier, (1, 1))  # written long before this run started

    def stopped(config, log):
        raise KeyboardInterrupt

    monkeypatch.setattr("training.train.train", stopped)
    assert main(["--smoke", "--overwrite", "--out-dir", str(tmp_path / "run")]) == 130
    assert capsys.readouterr().err.strip() == "yantra-train: interrupted"


def test_a_run_resumed_into_another_folder_starts_its_log_from_the_resumed_runs_history(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "metrics.jsonl").write_text('{"epoch": 1, "val_loss": 1.0}\n{"epoch": 2, "val_loss": 0.5}\n')
    (second / "metrics.jsonl").write_text('{"epoch": 1, "val_loss": 9.0}\n')  # another run's, in the new folder
    _restart_metrics_log(second / "metrics.jsonl", 2, first / "state.pt")
    assert (second / "metrics.jsonl").read_text() == '{"epoch": 1, "val_loss": 1.0}\n'
    _restart_metrics_log(second / "metrics.jsonl", 1)  # a fresh run
    assert (second / "metrics.jsonl").read_text() == ""


def test_on_resume_each_rank_past_the_first_draws_a_seeded_stream_of_its_own():
    first, other, again = (_reseed_rank(0, rank, 3).random(4) for rank in (1, 2, 1))
    assert not np.allclose(first, other) and np.array_equal(first, again)


def test_the_same_script_trains_under_torchrun_with_two_cpu_processes(tmp_path, data_cache):
    config = _smoke(tmp_path, data_cache, epochs=1)
    flags = []
    for name, value in config.to_dict().items():
        if name in ("loss_weights", "resume", "max_files", "humaneval_limit", "max_samples_per_task"):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + name.replace("_", "-"))
        elif isinstance(value, list):
            flags += [flag, ",".join(str(v) for v in value)]
        elif value is not None:
            flags += [flag, str(value)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "training.train", *flags],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "device: cpu (1 thread), 2 processes (gloo)" in result.stdout + result.stderr
    assert (tmp_path / "best.safetensors").exists()


def test_every_rank_takes_as_many_steps_as_the_largest_shard_needs():
    # 129 samples over two ranks: shards of 65 and 64, two batches of 64 for rank 0, so two for rank 1
    # too (DDP all-reduces every step; a rank one step short left the other waiting for good)
    assert steps_per_epoch([129, 10], world=2, batch_size=64) == 2
    assert steps_per_epoch([128, 10], world=2, batch_size=64) == 1
    assert steps_per_epoch([129], world=1, batch_size=64, max_steps=2) == 2
    assert steps_per_epoch([0], world=2, batch_size=64) == 1


def test_a_resumed_run_restores_the_best_weights_of_the_run_it_resumes_not_of_its_new_folder(tmp_path):
    resumed = write_checkpoint(tmp_path / "a" / "best.safetensors", ["os"], seed=1, hidden_dims=(8, 8))
    write_checkpoint(tmp_path / "b" / "best.safetensors", ["os"], seed=2, hidden_dims=(8, 8))  # another run's
    saved = load_checkpoint(resumed, expected_layout_version=None).weights
    like = {name: torch.zeros(1) for name in saved}
    restored = _resumed_best(tmp_path / "a" / "best.safetensors", like)  # train() passes the state's folder
    assert all(np.array_equal(restored[name].numpy(), saved[name]) for name in saved)
    with pytest.raises(FileNotFoundError, match="best weights"):
        _resumed_best(tmp_path / "c" / "best.safetensors", like)


def test_each_flag_is_read_as_its_fields_declared_type():
    config = parse_config(["--out-dir", "2024", "--cache-dir", "1e3", "--max-units-per-package", "4e2",
                           "--lr", "0.01", "--max-files", "none"])
    assert (config.out_dir, config.cache_dir) == ("2024", "1e3")  # folders, not numbers
    assert config.max_units_per_package == 400 and isinstance(config.max_units_per_package, int)
    assert config.lr == 0.01 and config.max_files is None
    assert parse_config(["--max-files", "9007199254740993"]).max_files == 9007199254740993  # exact, not via a float
    assert parse_config(["--hidden-dims", "2e2,64"]).hidden_dims == (200, 64)
    for flags in (["--epochs", "2.5"], ["--loss-weights", "[1, 2]"], ["--loss-weights", '{"bugs": "x"}'],
                  ["--lr", "nan"], ["--lr", "inf"]):
        with pytest.raises(SystemExit):
            parse_config(flags)


def test_stacked_import_weights_give_the_score_of_the_head_and_the_evidence_fitted_together():
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(size=300), np.ones(300), rng.uniform(size=(300, 5))])
    evidence = (0.0, 1.0, 4.0, 2.0, 1.0, 3.0, 0.5, -5.0)
    score = x[:, 1:] @ np.asarray(evidence[1:-1]) + evidence[-1]
    y = (rng.uniform(size=300) < 1 / (1 + np.exp(-(0.5 * x[:, 0] + score)))).astype(float)
    weights = _stacked(x, y, evidence)
    (head, scale), bias = fit_logistic(np.column_stack([x[:, 0], score]), y, l2=1.0)
    assert len(weights) == len(evidence) and weights[0] == head and head > 0.3 and 0.5 < scale < 2.0
    assert np.allclose(x @ np.asarray(weights[:-1]) + weights[-1], head * x[:, 0] + scale * score + bias)
