"""Run by test_distribute.py in a fresh process: the CPU must be split into two
logical devices before TensorFlow touches any device, which a pytest process
that already ran other tests cannot do. Prints one JSON line of findings."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import machinery.tensorflow_settings  # noqa: E402,F401  first: before TensorFlow loads
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from machinery import devices  # noqa: E402
from defGAN import build_models, define_gan, make_generate  # noqa
from train import train_discriminator_step, train_generator_step  # noqa
from presets import CLASSIC  # noqa: E402

strategy = devices.make_strategy("mirrored", cpu_replicas=2)
config = dict(CLASSIC, latent_dim=8, width=0.125, dropout=0.0, spectral_norm=True, lr_d=1e-3, lr_g=1e-3)


def networks(strategy_here):
    keras.utils.set_random_seed(0)
    with strategy_here.scope():
        generator, discriminator = build_models(config)
        gan = define_gan(generator, discriminator, config)
        devices.prepare_for_strategy(strategy_here, discriminator, gan)
    return generator, discriminator, gan


def replicas_agree(model):
    return all(all(np.array_equal(values[0], other) for other in values[1:])
               for values in ([np.asarray(v) for v in strategy.experimental_local_results(variable.value)]
                              for variable in model.variables))


def state(model):
    return [v.numpy() for v in model.variables if "seed_generator" not in v.path]


findings = {"replicas": strategy.num_replicas_in_sync, "d_frozen_in_g_step": True, "g_fixed_in_d_step": True}
mirrored, single = networks(strategy), networks(tf.distribute.get_strategy())
single[0].set_weights(mirrored[0].get_weights())
single[1].set_weights(mirrored[1].get_weights())
rng = np.random.default_rng(0)
for step in range(3):
    real = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    noise_d, noise_g = rng.standard_normal((2, 8, 8)).astype(np.float32)
    for generator, discriminator, gan in (mirrored, single):
        before = state(generator)
        fakes = make_generate(generator)(noise_d)  # as train.py; predict_on_batch would return both replicas' copies
        train_discriminator_step(discriminator, real, fakes)
        findings["g_fixed_in_d_step"] &= all(np.array_equal(a, b) for a, b in zip(before, state(generator)))
        before = state(discriminator)
        train_generator_step(gan, discriminator, noise_g)
        findings["d_frozen_in_g_step"] &= all(np.array_equal(a, b) for a, b in zip(before, state(discriminator)))
    if step == 0:
        # Rounding differs between one and two devices, and Adam's first update is
        # about lr * sign(gradient), so a near-zero gradient can flip a weight by
        # 2 * lr. Count how many weights differ beyond rounding.
        differences = np.concatenate([np.abs(a - b).ravel() for model in (0, 1)
                                      for a, b in zip(state(mirrored[model]), state(single[model]))])
        findings["share_differing_from_one_device"] = float(np.mean(differences > 1e-5))
findings["replicas_identical"] = replicas_agree(mirrored[0]) and replicas_agree(mirrored[1])
sliced = strategy.experimental_local_results(devices.split_per_replica(strategy, np.concatenate([np.zeros((4, 1)),
                                                                                              np.ones((4, 1))])))
findings["slices"] = [np.asarray(part)[:, 0].tolist() for part in sliced]
print(json.dumps(findings))
