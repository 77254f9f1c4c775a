"""The stacked GAN: generator -> frozen discriminator, and the two training steps.

A GAN trains two networks against each other:
  * the discriminator D learns to tell real images (label 1) from generated
    ones (label 0);
  * the generator G learns to make D say "real" about its images.

G never sees a real image. It learns only through D's gradients, which is why
we stack the two: `gan(noise) = D(G(noise))`. Training this stacked model with
the label "real" (1) for generated images pushes G's weights towards images
D believes are real, *provided D's own weights stay fixed during that step*.
Freezing D correctly is the classic trap; `train_generator_step` explains it.

`build_models(config)` is the one place that turns a run's config (written to
`config.json` by `train.py`) into networks, so `samples.py` rebuilds exactly
what `train.py` trained.
"""
import functools

import keras
import numpy as np

from discri_keras import define_discriminator
from gene_keras import define_generator

# Everything needed to rebuild the networks of a run. train.py stores these
# in RUN_DIR/config.json; samples.py reads them back.
MODEL_DEFAULTS = {
    "latent_dim": 100,  # size of the random input vector, as in the DCGAN paper
    "width": 1.0,       # filter-count multiplier; 1.0 is the classic tutorial
    "dropout": 0.4,     # discriminator dropout, as in the classic tutorial
}

# Label convention used everywhere: 1 = real, 0 = generated ("fake").
REAL, FAKE = 1.0, 0.0


def model_config(config):
    """The architecture part of a run config, with defaults filled in."""
    return {key: config.get(key, default) for key, default in MODEL_DEFAULTS.items()}


def build_models(config):
    """Return uncompiled (generator, discriminator) for a run config."""
    options = model_config(config)
    generator = define_generator(options["latent_dim"], width=options["width"])
    discriminator = define_discriminator(width=options["width"], dropout=options["dropout"])
    return generator, discriminator


def define_gan(generator, discriminator, learning_rate=2e-4, beta_1=0.5):
    """Compile D on its own, then build and compile the stacked model D(G(z)).

    Adam with lr 2e-4 and beta_1 0.5 is the DCGAN paper's setting: the default
    beta_1 of 0.9 keeps too much momentum for a target that moves every step.
    Each model gets its own optimizer, because each updates different weights.
    """
    discriminator.compile(optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
                          loss="binary_crossentropy", metrics=["accuracy"])
    noise = keras.Input(shape=generator.input_shape[1:], name="noise")
    gan = keras.Model(noise, discriminator(generator(noise)), name="gan")
    gan.compile(optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
                loss="binary_crossentropy")
    return gan


def build_optimizer_state(discriminator, gan):
    """Create both optimizers' slot variables now, instead of at the first step.

    Keras creates an optimizer's variables lazily. A checkpoint can only be
    loaded into optimizers whose variables already exist, so resuming calls
    this first. The trainable flags matter here exactly as in the steps below.
    """
    discriminator.trainable = True
    discriminator.optimizer.build(discriminator.trainable_variables)
    discriminator.trainable = False
    gan.optimizer.build(gan.trainable_variables)


@functools.lru_cache(maxsize=8)
def labels(value, batch_size):
    """A [batch_size, 1] array full of `value`, built once per shape and reused."""
    return np.full((batch_size, 1), value, dtype=np.float32)


def train_discriminator_step(discriminator, real_images, fake_images):
    """One discriminator update on real images (label 1) and one on fakes (label 0).

    Returns the losses and accuracies of both halves, so training can show
    how well D separates real from fake.
    """
    # FREEZING, part 1. Keras 3 captures a model's trainable variables when it
    # first traces `train_on_batch`. If D.trainable were False at that moment
    # (the classic recipe "compile D; D.trainable = False; build the GAN"
    # leaves it so), D's own train_on_batch would silently update nothing,
    # ever. So we set the flag explicitly before every D step.
    discriminator.trainable = True
    real = discriminator.train_on_batch(real_images, labels(REAL, len(real_images)), return_dict=True)
    fake = discriminator.train_on_batch(fake_images, labels(FAKE, len(fake_images)), return_dict=True)
    return {"d_loss_real": float(real["loss"]), "d_loss_fake": float(fake["loss"]),
            "d_acc_real": float(real["accuracy"]), "d_acc_fake": float(fake["accuracy"])}


def train_generator_step(gan, discriminator, noise):
    """One generator update through the stacked model; returns G's loss.

    The generated images are labelled *real* (1): G is rewarded when D is
    fooled. This "non-saturating" loss gives G strong gradients early on, when
    D easily rejects its images.
    """
    # FREEZING, part 2. Inside the stacked model D must not learn: the loss
    # "call these fakes real" would otherwise teach D to accept fakes. Setting
    # trainable = False before the GAN's step (its traced function then holds
    # only G's variables) keeps D's weights bit-for-bit unchanged here.
    discriminator.trainable = False
    result = gan.train_on_batch(noise, labels(REAL, len(noise)), return_dict=True)
    return float(result["loss"])
