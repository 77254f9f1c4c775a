"""Freezing under Keras 3: D learns only in its own step, G only through the stacked model."""
import numpy as np
import pytest

from defGAN import build_models, define_gan
from train import train_discriminator_step, train_generator_step
from presets import CLASSIC


def snapshot(model):
    return [weight.copy() for weight in model.get_weights()]


def changed(before, model):
    return any(not np.array_equal(old, new) for old, new in zip(before, model.get_weights()))


def test_each_step_updates_exactly_one_network():
    generator, discriminator = build_models(dict(CLASSIC, latent_dim=8, width=0.125))
    gan = define_gan(generator, discriminator, dict(CLASSIC, lr_d=1e-3, lr_g=1e-3))
    rng = np.random.default_rng(0)
    for alternation in range(4):
        real = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
        fakes = generator.predict_on_batch(rng.standard_normal((8, 8)).astype(np.float32))
        d_before, g_before = snapshot(discriminator), snapshot(generator)
        stats = train_discriminator_step(discriminator, real, fakes)
        assert changed(d_before, discriminator), f"D did not learn in its own step {alternation}"
        assert not changed(g_before, generator), f"G changed during D's step {alternation}"
        assert set(stats) == {"d_loss_real", "d_loss_fake", "d_acc_real", "d_acc_fake"}

        d_before, g_before = snapshot(discriminator), snapshot(generator)
        loss = train_generator_step(gan, discriminator, rng.standard_normal((8, 8)).astype(np.float32))
        assert np.isfinite(loss)
        assert changed(g_before, generator), f"G did not learn through the stacked model {alternation}"
        assert not changed(d_before, discriminator), f"D changed during the GAN step {alternation}"


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
def test_classic_recipe_trap_is_real():
    """Documents the Keras 3 behaviour our step functions work around: if D's
    first train_on_batch runs while D.trainable is False, D never learns."""
    _, discriminator = build_models(dict(CLASSIC, latent_dim=8, width=0.125))
    discriminator.compile(optimizer="adam", loss="binary_crossentropy")
    discriminator.trainable = False
    before = snapshot(discriminator)
    discriminator.train_on_batch(np.zeros((4, 32, 32, 3), np.float32), np.ones((4, 1), np.float32))
    discriminator.trainable = True  # too late: the traced step already holds no variables
    discriminator.train_on_batch(np.zeros((4, 32, 32, 3), np.float32), np.ones((4, 1), np.float32))
    assert not changed(before, discriminator)
