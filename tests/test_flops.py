"""FLOP counts against values worked out by hand, so the benchmark's peak fraction can be trusted; and the
benchmark itself, run briefly, prints every figure it promises."""
import os
import sys

import keras
import pytest

from conftest import ROOT, run_script
from defGAN import build_models
from presets import preset_options

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))  # flops.py lives with the benchmark that uses it
from flops import backward_flops, forward_flops, iteration_flops, layer_forward_flops  # noqa: E402
from presets import CLASSIC


def one_layer(layer, input_shape):
    inputs = keras.Input(input_shape)
    layer(inputs)
    return layer


def test_conv_transposed_conv_and_dense_layers():
    # 16x16 outputs x 8 filters, each a 3x3x3 kernel of multiply-adds (2 FLOPs each).
    conv = one_layer(keras.layers.Conv2D(8, 3, strides=2, padding="same"), (32, 32, 3))
    assert layer_forward_flops(conv) == 2 * (16 * 16 * 8) * (3 * 3 * 3) == 110_592
    # Each of 4x4x6 input values is multiplied into a 4x4 patch of 4 output channels.
    transposed = one_layer(keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same"), (4, 4, 6))
    assert layer_forward_flops(transposed) == 2 * (4 * 4 * 6) * (4 * 4 * 4) == 12_288
    dense = one_layer(keras.layers.Dense(10), (20,))
    assert layer_forward_flops(dense) == 2 * 20 * 10 == 400
    wrapped = one_layer(keras.layers.SpectralNormalization(keras.layers.Dense(10)), (20,))
    assert layer_forward_flops(wrapped) == 400
    assert layer_forward_flops(one_layer(keras.layers.LeakyReLU(), (20,))) == 0


def test_classic_networks_and_one_iteration():
    generator, discriminator = build_models(CLASSIC)
    d = 2 * (32 * 32 * 64 * 27 + 16 * 16 * 128 * 576 + 8 * 8 * 128 * 1152 + 4 * 4 * 256 * 1152 + 4096)
    g = 2 * (100 * 4096 + 4 * 4 * 256 * 16 * 128 + 8 * 8 * 128 * 16 * 128 + 16 * 16 * 128 * 16 * 128
             + 32 * 32 * 3 * 9 * 128)
    assert forward_flops(discriminator) == d == 69_607_424
    assert forward_flops(generator) == g
    first_d, first_g = 2 * 32 * 32 * 64 * 27, 2 * 100 * 4096
    assert backward_flops(discriminator) == 2 * d - first_d
    parts = iteration_flops(generator, discriminator, batch_size=128)
    assert parts["generator makes fakes for D"] == 64 * g
    assert parts["D step (forward + backward)"] == 128 * (3 * d - first_d)
    assert parts["G step through the stacked model"] == 128 * (g + 2 * d + 2 * g - first_g)
    assert parts["total"] == pytest.approx(sum(value for key, value in parts.items() if key != "total"))


def test_throughput_benchmark_prints_every_figure():
    result = run_script("benchmarks/throughput.py", "--presets", "small-ema", "--steps", "1", "--repeats", "1",
                        "--warmup", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()

    def number_after(prefix):
        line = next(line for line in lines if line.strip().startswith(prefix))
        return float(line.split(prefix)[1].split()[0].rstrip("x"))

    assert number_after("peak conv 3x3 128->128 on 128x16x16:") > 0 and number_after("peak matmul 2048x2048x2048:") > 0
    config = preset_options("small-ema")
    generator, discriminator = build_models(config)
    expected = iteration_flops(generator, discriminator, config["batch_size"], config["d_steps"])["total"]
    assert number_after("FLOPs per iteration, total:") == pytest.approx(expected / 1e9, abs=0.005)
    assert number_after("ratio (train.py step / classic loop):") > 0
    assert "where the step's time goes" in result.stdout and "G step" in result.stdout
    assert number_after("with no overhead at all:") > 0 and number_after("peak resident memory of this process:") > 0
