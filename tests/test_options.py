"""The options of issue "better GANs": losses, spectral norm, batch norm, DiffAugment,
EMA, warm-up, label smoothing, presets and the monitoring warnings."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from augment import DiffAugment
from conftest import TINY, run_script
from defGAN import build_models, clip_value, define_gan, make_generate, training_warnings
from train import train_discriminator_step, train_generator_step
from ema import GeneratorEMA, ema_decay
from presets import CLASSIC

TINY_MODEL = {"latent_dim": 8, "width": 0.125}
# One entry per option (and each loss), on top of the classic configuration.
OPTIONS = {
    "bce": {}, "lsgan": {"loss": "lsgan"}, "hinge": {"loss": "hinge"},
    "wasserstein-clip": {"loss": "wasserstein"},
    "wasserstein-sn": {"loss": "wasserstein", "spectral_norm": True},
    "spectral-norm": {"spectral_norm": True}, "batch-norm": {"batch_norm": True},
    "no-dropout": {"dropout": 0.0}, "label-smoothing": {"label_smoothing": 0.1},
    "augment": {"augment": "color,translation,cutout"}, "ema": {"ema": 0.9},
    "warmup-ttur": {"warmup_steps": 3, "lr_d": 4e-4, "lr_g": 1e-4},
    "standard": {"architecture": "standard", "batch_norm": True, "spectral_norm": True, "loss": "hinge"},
}


def tiny_config(**options):
    return dict(CLASSIC, **TINY_MODEL, **options)


def snapshot(variables):
    return [variable.numpy() for variable in variables]


def changed(before, variables):
    return any(not np.array_equal(old, new.numpy()) for old, new in zip(before, variables))


def state_of(model):
    """Weights and other state (spectral-norm vectors, batch-norm statistics), but
    not random-number states: dropout draws new masks in every step by design."""
    return [variable for variable in model.variables if "seed_generator" not in variable.path]


@pytest.mark.parametrize("name", list(OPTIONS))
def test_every_option_trains_with_finite_losses_and_freezing_holds(name):
    config = tiny_config(**OPTIONS[name])
    keras.utils.set_random_seed(0)
    generator, discriminator = build_models(config)
    gan = define_gan(generator, discriminator, config)
    ema = GeneratorEMA(generator, config["ema"]) if config["ema"] else None
    generate, rng = make_generate(generator), np.random.default_rng(0)
    ema_variables = ema.model.variables if ema else []
    for step in range(2):
        real = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
        fakes = generate(rng.standard_normal((8, 8)).astype(np.float32))
        # D's step: all of D's variables may change (weights, spectral-norm vectors,
        # augmentation seeds), none of G's trainable weights, none of the EMA copy.
        d_before, g_before, e_before = (snapshot(discriminator.variables),
                                        snapshot(generator.trainable_variables), snapshot(ema_variables))
        stats = train_discriminator_step(discriminator, real, fakes, 1.0 - config["label_smoothing"],
                                         clip_value(config))
        assert all(np.isfinite(value) for value in stats.values()), stats
        assert changed(d_before, discriminator.trainable_variables), f"D did not learn in its step {step}"
        assert not changed(g_before, generator.trainable_variables), f"G changed during D's step {step}"
        assert not changed(e_before, ema_variables)
        # The stacked model's step: every D variable stays bit-for-bit the same.
        d_before, g_before = snapshot(state_of(discriminator)), snapshot(generator.trainable_variables)
        loss = train_generator_step(gan, discriminator, rng.standard_normal((16, 8)).astype(np.float32))
        assert np.isfinite(loss)
        assert changed(g_before, generator.trainable_variables), f"G did not learn through the stacked model {step}"
        assert not changed(d_before, state_of(discriminator)), f"D changed during the GAN step {step}"
        if ema:
            e_before = snapshot(ema_variables)
            ema.update(step + 1)
            assert changed(e_before, ema_variables)
    if config["loss"] == "wasserstein" and not config["spectral_norm"]:
        assert max(np.abs(v.numpy()).max() for v in state_of(discriminator)) <= 0.01 + 1e-7


def test_spectral_norm_keeps_the_largest_singular_value_near_one():
    # Without it, these layers' largest singular values measured 1.06 to 1.45 after the same 100 updates.
    keras.utils.set_random_seed(1)
    config = tiny_config(spectral_norm=True)
    generator, discriminator = build_models(config)
    define_gan(generator, discriminator, config)
    rng = np.random.default_rng(1)
    for _ in range(100):
        real = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
        fakes = generator.predict_on_batch(rng.standard_normal((8, 8)).astype(np.float32))
        train_discriminator_step(discriminator, real, fakes)
    wrapped = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 5  # four convolutions and the dense layer
    for layer in wrapped:
        kernel = layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1])
        # Power iteration from the layer's own vector u, then the exact value.
        u = layer.vector_u.numpy()
        for _ in range(50):
            v = u @ kernel.T
            v /= np.linalg.norm(v)
            u = v @ kernel
            u /= np.linalg.norm(u)
        estimate = (v @ kernel @ u.T).item()
        assert abs(estimate - 1) < 0.05 and abs(np.linalg.svd(kernel, compute_uv=False)[0] - 1) < 0.05, layer.name


def test_ema_follows_the_formula_exactly():
    keras.utils.set_random_seed(2)
    generator, _ = build_models(tiny_config(batch_norm=True))
    ema = GeneratorEMA(generator, decay=0.95)
    expected = snapshot(generator.variables)
    trainable = {id(variable) for variable in generator.trainable_variables}
    rng = np.random.default_rng(2)
    for updates in range(1, 5):
        for variable in generator.variables:  # stand-in for a training step
            variable.assign(variable.numpy() + rng.normal(size=variable.shape).astype(np.float32))
        ema.update(updates)
        decay = min(0.95, (1 + updates) / (10 + updates))
        assert np.isclose(float(ema_decay(0.95, updates)), decay)
        for index, variable in enumerate(generator.variables):
            live = variable.numpy()
            expected[index] = decay * expected[index] + (1 - decay) * live if id(variable) in trainable else live
        for want, got in zip(expected, ema.model.variables):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6)


def test_diffaugment_passes_gradients_to_the_generator_and_only_acts_in_training():
    config = tiny_config(augment="color,translation,cutout")
    generator, discriminator = build_models(config)
    gan = define_gan(generator, discriminator, config)
    noise = np.random.default_rng(3).standard_normal((4, 8)).astype(np.float32)
    discriminator.trainable = False
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(gan(noise, training=True))
    gradients = tape.gradient(loss, generator.trainable_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)
    layer = DiffAugment("color,translation,cutout", seed=0)
    images = np.random.default_rng(4).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    assert np.array_equal(np.array(layer(images, training=False)), images)
    augmented = np.array(layer(images, training=True))
    assert augmented.shape == images.shape and not np.allclose(augmented, images)
    # Translation alone moves each image by a whole number of pixels (at most 4), zero-filled.
    shifted = np.array(DiffAugment("translation", seed=1)(images, training=True))
    for before, after in zip(images, shifted):
        assert any(np.allclose(after, shift(before, down, right)) for down in range(-4, 5) for right in range(-4, 5))


def shift(image, down, right):
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
    return padded[4 - down:36 - down, 4 - right:36 - right]


def test_warmup_learning_rate_follows_the_schedule():
    config = tiny_config(warmup_steps=4, lr_d=1e-3, lr_g=5e-4)
    generator, discriminator = build_models(config)
    gan = define_gan(generator, discriminator, config)
    rng = np.random.default_rng(5)
    for updates in range(6):
        assert np.isclose(float(discriminator.optimizer.learning_rate), 1e-3 * min(1, (updates + 1) / 4))
        assert np.isclose(float(gan.optimizer.learning_rate), 5e-4 * min(1, (updates + 1) / 4))
        real = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
        fakes = generator.predict_on_batch(rng.standard_normal((4, 8)).astype(np.float32))
        train_discriminator_step(discriminator, real, fakes)
        train_generator_step(gan, discriminator, rng.standard_normal((4, 8)).astype(np.float32))


def test_monitoring_warns_about_a_winning_discriminator_and_a_collapsed_grid():
    varied = np.random.default_rng(6).uniform(-1, 1, (64, 32, 32, 3))
    collapsed = np.repeat(varied[:1], 64, axis=0) + 0.001 * varied
    healthy = {"step": 1000, "d_acc_real": 0.7, "d_acc_fake": 0.8}
    assert training_warnings(healthy, varied) == []
    [winning] = training_warnings(dict(healthy, d_acc_real=1.0, d_acc_fake=1.0), varied)
    assert "discriminator is right 100%" in winning and "--label-smoothing" in winning
    [losing] = training_warnings(dict(healthy, d_acc_fake=0.0), varied)
    assert "calls almost every generated image wrong" in losing
    [collapse] = training_warnings(healthy, collapsed)
    assert "collapsed" in collapse
    assert training_warnings(dict(healthy, step=10), collapsed) == []  # too early to judge


def test_preset_then_flags_and_no_ema_sampling(real_archive, tmp_path):
    run_dir = str(tmp_path / "run")
    result = run_script("train.py", "--data", real_archive, "--out", run_dir, "--preset", "sngan", "--epochs", "1",
                        "--steps-per-epoch", "2", *TINY, "--ema", "0.5", "--augment", "translation")
    assert result.returncode == 0, result.stderr[-2000:]
    with open(os.path.join(run_dir, "config.json")) as file_object:
        config = json.load(file_object)
    assert config["preset"] == "sngan" and config["loss"] == "hinge" and config["architecture"] == "standard"
    assert config["ema"] == 0.5 and config["latent_dim"] == 16 and config["augment"] == "translation"
    paths = {name: str(tmp_path / f"{name}.png") for name in ("ema", "ema_again", "live")}
    for name, extra in (("ema", []), ("ema_again", []), ("live", ["--no-ema"])):
        result = run_script("samples.py", run_dir, "--out", paths[name], *extra)
        assert result.returncode == 0, result.stderr
        assert ("generator.weights.h5" if extra else "generator.ema.weights.h5") in result.stdout
    images = {name: keras.utils.load_img(path) for name, path in paths.items()}
    assert np.array_equal(np.array(images["ema"]), np.array(images["ema_again"]))  # augmentation is off
    assert not np.array_equal(np.array(images["ema"]), np.array(images["live"]))


@pytest.mark.parametrize("architecture", ["classic", "standard"])
@pytest.mark.parametrize("width, latent_dim", [(0.5, 100), (1.0, 128), (2.0, 16)])
def test_memory_estimate_counts_the_parameters_of_the_built_networks(architecture, width, latent_dim):
    """machinery/options.py refuses sizes that cannot fit before building anything, from presets.NETWORK_SIZES:
    its parameter count must be that of the networks train.py would build (within 2%, the biases)."""
    from presets import NETWORK_SIZES
    from presets import CLASSIC

    generator, discriminator = build_models(dict(CLASSIC, architecture=architecture, width=width,
                                                 latent_dim=latent_dim))
    dense_outputs, squared, _ = NETWORK_SIZES[architecture]
    estimate = latent_dim * dense_outputs * width + squared * width ** 2
    assert estimate == pytest.approx(generator.count_params() + discriminator.count_params(), rel=0.02)
