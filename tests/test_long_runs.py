"""Runs you can leave alone: exact resume, kills at any moment, Ctrl-C, divergence."""
import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import matplotlib.image
import numpy as np
import pytest

from conftest import ROOT, TINY, run_script, weights_of

# The options with state of their own ride along: the EMA copy, DiffAugment's
# random state and batch-norm statistics must all resume exactly too.
STEPS = ["--steps-per-epoch", "4", "--ema", "0.9", "--augment", "translation,cutout", "--batch-norm"]


def latest_state_weights(run_dir):
    """Every array of the newest checkpoint: the stacked GAN's and the EMA generator's."""
    folder = sorted(glob.glob(os.path.join(run_dir, "checkpoints", "step-*")))[-1]
    arrays = {"ema/" + name: value for name, value in weights_of(folder + "/generator.ema.weights.h5").items()}
    return dict(arrays, **weights_of(folder + "/state.weights.h5"))


def metric_rows(run_dir):
    """metrics.csv without the timing columns, which differ between runs."""
    with open(os.path.join(run_dir, "metrics.csv")) as file_object:
        return [{k: v for k, v in row.items() if k not in ("seconds", "it_per_s")}
                for row in csv.DictReader(file_object)]


def assert_same_training(run_a, run_b):
    a, b = latest_state_weights(run_a), latest_state_weights(run_b)
    assert a.keys() == b.keys() and len(a) > 10  # G, D and both optimizers' slots
    for name in a:
        assert np.array_equal(a[name], b[name]), f"{name} differs"
    assert metric_rows(run_a) == metric_rows(run_b)


def train(data, run_dir, *extra):
    result = run_script("train.py", "--data", data, "--out", run_dir, *TINY, *STEPS, *extra)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def straight(real_archive, tmp_path_factory):
    """Reference: 3 epochs without interruption."""
    run_dir = str(tmp_path_factory.mktemp("straight") / "run")
    train(real_archive, run_dir, "--epochs", "3")
    return run_dir


def test_resume_equals_an_uninterrupted_run(real_archive, straight, tmp_path):
    run_dir = str(tmp_path / "run")
    train(real_archive, run_dir, "--epochs", "1")
    result = run_script("train.py", "--resume", run_dir, "--epochs", "3", "--data", real_archive)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming" in result.stdout
    assert_same_training(straight, run_dir)  # bit-identical on CPU with op determinism
    assert len(metric_rows(run_dir)) == 3


def start_training(data, run_dir, *extra):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "train.py", "--data", data, "--out", run_dir, *TINY, *STEPS, *extra],
                            cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(path, process, timeout=120):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert process.poll() is None and time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_sigint_saves_a_resumable_checkpoint_and_exits_0(real_archive, straight, tmp_path):
    run_dir = str(tmp_path / "run")
    process = start_training(real_archive, run_dir, "--epochs", "3")
    wait_for(os.path.join(run_dir, "checkpoints", "step-00000004"), process)  # epoch 1 done
    time.sleep(0.3)  # now somewhere inside epoch 2 (or at its end)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert f"resume with: python train.py --resume {run_dir}" in output
    result = run_script("train.py", "--resume", run_dir, "--epochs", "3", "--data", real_archive)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_same_training(straight, run_dir)  # stopping anywhere loses nothing


def every_file_parses(run_dir):
    with open(os.path.join(run_dir, "config.json")) as file_object:
        json.load(file_object)
    for path in glob.glob(os.path.join(run_dir, "**", "*.png"), recursive=True):
        if not os.path.basename(path).startswith(".tmp-"):
            matplotlib.image.imread(path)
    for path in glob.glob(os.path.join(run_dir, "*.weights.h5")):
        weights_of(path)
    if os.path.exists(os.path.join(run_dir, "metrics.csv")):
        metric_rows(run_dir)


def wait_for_a_checkpoint_after(run_dir, step, process, timeout=600):
    """Wait until this run has put a checkpoint folder of a later step than `step` in place (renamed there
    whole). `step` is that of the newest folder before the run started: any later folder is this run's."""
    deadline = time.time() + timeout
    pattern = os.path.join(run_dir, "checkpoints", "step-*")
    while not [path for path in glob.glob(pattern) if int(path.rsplit("-", 1)[1]) > step]:
        assert process.poll() is None, f"train.py ended before a checkpoint after step {step}"
        assert time.time() < deadline, f"no checkpoint after step {step} within {timeout} s"
        time.sleep(0.05)


def newest_folder(run_dir):
    """The step of the newest checkpoint folder, intact or not (a damaged one is set aside on resuming)."""
    return max(int(path.rsplit("-", 1)[1]) for path in glob.glob(os.path.join(run_dir, "checkpoints", "step-*")))


def test_sigkill_at_many_moments_never_corrupts(real_archive, straight, tmp_path):
    from machinery.checkpoint import find_latest_checkpoint

    run_dir = str(tmp_path / "run")
    train(real_archive, run_dir, "--epochs", "1")
    last_step = 4
    rng = np.random.default_rng(0)
    for kill in range(20):
        # A checkpoint every step makes many kills land while one is being written.
        # --epochs far beyond what 20 kills allow: a fast machine finished 30 epochs (120 steps) mid-test,
        # and the next resume, of a finished run, rightly ended at once.
        process = start_training(real_archive, run_dir, "--resume", run_dir, "--epochs", "100000",
                                 "--checkpoint-every", "1")
        if kill % 2:  # during start-up or the first steps (start-up alone takes seconds on 2 busy cores)
            time.sleep(rng.uniform(3.0, 12.0))
        else:
            # While training: once this run has written a checkpoint of its own, then at a random moment of
            # the next steps, each of which writes one. Waiting for the checkpoint rather than for a fixed
            # time is what lets training progress however slow a loaded machine makes start-up and steps.
            wait_for_a_checkpoint_after(run_dir, newest_folder(run_dir), process)
            time.sleep(rng.uniform(0.0, 2.0))
        process.kill()
        process.wait()
        every_file_parses(run_dir)
        found = find_latest_checkpoint(run_dir, report=lambda message: None)
        assert found is not None, f"no intact checkpoint after kill {kill}"
        assert found[1]["step"] >= last_step, "a kill lost work that had been checkpointed"
        last_step = found[1]["step"]
    assert last_step > 4, "the kills never let training progress"
    # The killed runs' last checkpoint may fall inside an epoch: finish it and one more.
    epochs = last_step // 4 + 2  # 4 steps an epoch (STEPS)
    result = run_script("train.py", "--resume", run_dir, "--epochs", str(epochs), "--data", real_archive)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not glob.glob(os.path.join(run_dir, "**", ".tmp-*"), recursive=True)
    assert [int(r["epoch"]) for r in metric_rows(run_dir)] == list(range(1, epochs + 1))


def damage(run_dir, step, how):
    """Damage one file of checkpoint `step` in one of several ways."""
    folder = os.path.join(run_dir, "checkpoints", f"step-{step:08d}")
    if how == "truncated weights":
        with open(os.path.join(folder, "state.weights.h5"), "r+b") as file_object:
            file_object.truncate(100)
    elif how == "state of the wrong shape":
        with open(os.path.join(folder, "state.json"), "w") as file_object:
            json.dump({"step": step, "epoch": "two"}, file_object)
    elif how == "state edited":
        with open(os.path.join(folder, "state.json")) as file_object:
            state = json.load(file_object)
        state["epoch_steps"] += 1  # valid JSON of the right shape: only its checksum tells
        with open(os.path.join(folder, "state.json"), "w") as file_object:
            json.dump(state, file_object)
    elif how == "another step's state":
        older = os.path.join(run_dir, "checkpoints", f"step-{step - 4:08d}")
        for name in os.listdir(folder):
            shutil.copy(os.path.join(older, name), os.path.join(folder, name))


@pytest.mark.parametrize("how", ["truncated weights", "state of the wrong shape", "state edited",
                                 "another step's state"])
def test_a_damaged_checkpoint_is_set_aside_and_never_costs_the_intact_one(real_archive, tmp_path, how):
    """Once: fall back past a damaged newest checkpoint with --keep 1, reach its step again, keep the damaged
    folder, throw away the new save and prune the intact one, so that the next resume found nothing."""
    from machinery.checkpoint import find_latest_checkpoint

    run_dir = str(tmp_path / "run")
    train(real_archive, run_dir, "--epochs", "2", "--keep", "2")
    damage(run_dir, 8, how)
    result = run_script("train.py", "--resume", run_dir, "--epochs", "2", "--keep", "1", "--data", real_archive)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "resuming" in result.stdout and "step-00000004" in result.stdout  # fell back to the older one
    assert os.path.isdir(os.path.join(run_dir, "checkpoints", "damaged-step-00000008"))  # set aside, not deleted
    found = find_latest_checkpoint(run_dir, report=lambda message: None)
    assert found is not None and found[1]["step"] == 8  # the new save took the damaged one's place
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["damaged-step-00000008", "step-00000008"]
    result = run_script("train.py", "--resume", run_dir, "--epochs", "3", "--data", real_archive)
    assert result.returncode == 0 and "from " + os.path.join(run_dir, "checkpoints", "step-00000008") in result.stdout
