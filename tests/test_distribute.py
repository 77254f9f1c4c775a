"""Speed and scale options: tf.distribute over two logical CPU devices and over two
local worker processes (a cluster of two machines in miniature), and the precisions."""
import json
import os
import socket
import subprocess
import sys

import keras
import matplotlib.image
import numpy as np
import pytest

from machinery import checkpoint
from machinery import devices
from conftest import ROOT, TINY, run_script, weights_of
from defGAN import build_models, define_gan, make_generate
from train import train_discriminator_step, train_generator_step
from presets import CLASSIC, PRECISIONS
from machinery.progress import GRID_PADDING


def test_mirrored_strategy_on_two_cpu_replicas():
    result = run_script("tests/distributed_check.py")
    assert result.returncode == 0, result.stderr[-3000:]
    findings = json.loads(result.stdout.strip().splitlines()[-1])
    assert findings["replicas"] == 2
    assert findings["d_frozen_in_g_step"] and findings["g_fixed_in_d_step"]  # freezing holds under the strategy
    assert findings["replicas_identical"]  # both copies of every variable agree after training
    assert findings["share_differing_from_one_device"] < 0.001  # the same update as on one device
    assert findings["slices"] == [[0, 0, 1, 1], [0, 0, 1, 1]]  # each replica gets real *and* generated images


def test_checkpoints_move_between_strategy_and_none(real_archive, tmp_path):
    run_dir, mirrored = str(tmp_path / "run"), ["--strategy", "mirrored", "--cpu-replicas", "2"]
    steps = ["--steps-per-epoch", "2", "--ema", "0.9"]
    commands = [["--data", real_archive, "--out", run_dir, "--epochs", "1", *TINY, *steps, *mirrored],
                ["--resume", run_dir, "--epochs", "2"], ["--resume", run_dir, "--epochs", "3", *mirrored]]
    for command, replicas in zip(commands, (2, 1, 2)):
        result = run_script("train.py", *command)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"{replicas} replica(s)" in result.stdout
    with open(os.path.join(run_dir, "metrics.csv")) as file_object:
        assert len(file_object.read().strip().splitlines()) == 4  # header and three epochs
    grid = matplotlib.image.imread(os.path.join(run_dir, "progress", "epoch_0003.png"))
    assert grid.shape[0] == 8 * (32 + GRID_PADDING) + GRID_PADDING  # 64 images, not one set per replica


def free_ports(count):
    """Ports nobody listens on right now, for a cluster of local worker processes."""
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("localhost", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def start_workers(*arguments):
    """Two train.py processes on this machine, standing for two machines of a cluster."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    return [subprocess.Popen([sys.executable, "train.py", *arguments, "--strategy", "multi-worker"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", TF_CONFIG=json.dumps(
                                 {"cluster": cluster, "task": {"type": "worker", "index": index}})))
            for index in range(2)]


def test_multi_worker_trains_as_one_device_and_resumes_without_it(real_archive, tmp_path):
    # Without dropout (whose random masks differ per replica) the two workers,
    # each on half of every batch, must make exactly the update one device makes.
    # In float32: in bfloat16 (what --precision auto picks on some CPUs) the sums
    # over half batches round differently from the sum over the whole batch.
    common = ["--data", real_archive, "--epochs", "1", "--steps-per-epoch", "2", "--dropout", "0",
              "--precision", "float32", *TINY]
    workers = start_workers(*common, "--out", str(tmp_path / "run"))
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "2 replica(s)" in outputs[0] and f"the chief, which writes {tmp_path / 'run'}" in outputs[1]
    helper_copy = outputs[1].split("removed this helper worker's private copy ")[1].split(";")[0]
    assert not os.path.exists(helper_copy)  # only the chief's run directory remains
    assert f"Draw samples with: python samples.py {tmp_path / 'run'}" in outputs[1]  # not the removed copy
    one_device = run_script("train.py", *common, "--out", str(tmp_path / "one"))
    assert one_device.returncode == 0, one_device.stderr[-3000:]
    for name in ("generator.weights.h5", "discriminator.weights.h5"):
        expected, got = weights_of(str(tmp_path / "one" / name)), weights_of(str(tmp_path / "run" / name))
        assert expected.keys() == got.keys()
        assert all(np.allclose(got[key], expected[key], atol=1e-6) for key in expected)
    resumed = run_script("train.py", "--resume", str(tmp_path / "run"), "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1 replica(s)" in resumed.stdout and os.path.exists(tmp_path / "run" / "progress" / "epoch_0002.png")


def test_when_a_worker_dies_the_others_stop_with_one_line(real_archive, tmp_path):
    run_dir = str(tmp_path / "run")
    chief, helper = start_workers("--data", real_archive, "--out", run_dir, "--epochs", "1000",
                                  "--steps-per-epoch", "2", *TINY)
    try:
        for line in chief.stdout:  # wait until the first checkpoint is written
            if line.startswith("epoch 1:"):
                break
        helper.kill()
        output = chief.communicate(timeout=300)[0]  # TensorFlow notices the missing heartbeats
    finally:
        for worker in (chief, helper):
            worker.kill()
    assert chief.returncode == 1
    error = output.strip().splitlines()[-1]
    assert error.startswith("error: another worker of the cluster stopped") and "Traceback" not in output
    assert f"--resume {run_dir} --epochs 1000 --strategy multi-worker" in error
    assert checkpoint.find_latest_checkpoint(run_dir) is not None  # the chief's checkpoints are intact


@pytest.mark.parametrize("precision", list(PRECISIONS))
def test_each_precision_trains_with_float32_outputs(precision):
    devices.set_precision(precision)
    try:
        # Every layer that could break under a 16-bit policy: batch norm, spectral norm, DiffAugment.
        config = dict(CLASSIC, latent_dim=8, width=0.125, batch_norm=True, spectral_norm=True,
                      augment="color,translation,cutout")
        generator, discriminator = build_models(config)
        gan = define_gan(generator, discriminator, config)
        rng = np.random.default_rng(0)
        for _ in range(2):
            fakes = make_generate(generator)(rng.standard_normal((4, 8)).astype(np.float32))
            real = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
            stats = train_discriminator_step(discriminator, real, fakes)
            loss = train_generator_step(gan, discriminator, rng.standard_normal((8, 8)).astype(np.float32))
            assert np.isfinite(loss) and all(np.isfinite(value) for value in stats.values())
        assert fakes.dtype == "float32" and discriminator(fakes).dtype == "float32"
        # float16's narrow range needs loss scaling: Keras adds it when a model compiles under that policy.
        for model in (discriminator, gan):
            assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "float16")
        if precision != "float32":  # the hidden layers really compute in 16 bits
            assert generator.layers[1].compute_dtype == precision
            assert all(variable.dtype == "float32" for variable in generator.variables)
    finally:
        devices.set_precision("float32")
