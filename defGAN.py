"""The stacked GAN: generator -> discriminator, built and compiled here; train.py's two step functions
freeze D in G's step.

A GAN trains two networks against each other:
  * the discriminator D learns to tell real images (label 1) from generated
    ones (label 0);
  * the generator G learns to make D say "real" about its images.

G never sees a real image. It learns only through D's gradients, which is why
we stack the two: `gan(noise) = D(G(noise))` (a conditional GAN, --conditional,
stacks `gan(noise, y) = D(G(noise, y), y)` for class y). Training this stacked model with
the label "real" (1) for generated images pushes G's weights towards images
D believes are real, *provided D's own weights stay fixed during that step*.
Freezing D correctly is the classic trap; train.py's train_discriminator_step
and train_generator_step explain it where they set D.trainable.

`build_models(config)` is the one place that turns a run's config (written to
`config.json` by `train.py`) into networks, so `samples.py` rebuilds exactly
what `train.py` trained. The losses live in losses.py, presets in presets.py.
"""
import functools

import keras
import numpy as np

from defDATA import class_names, trained_classes
from discri_keras import define_discriminator
from gene_keras import define_generator
from losses import discriminator_loss, discriminator_metrics, generator_loss

# Label convention used everywhere: 1 = real, 0 = generated ("fake").
REAL, FAKE = 1.0, 0.0
WEIGHT_CLIP = 0.01  # the original WGAN's clipping range for the critic's weights (--loss wasserstein calls D a
#                     "critic": it scores images instead of classifying them; losses.py)
# Warning thresholds. Real CIFAR-10 pixels vary across images with a standard
# deviation of about 0.5 (in [-1, 1] units); a grid far below that is collapsing.
SATURATED_ACCURACY = 0.99
COLLAPSED_SPREAD = 0.05
WARN_AFTER_STEPS = 200  # before this, a fresh generator's near-blank images would raise false alarms


def build_models(config):
    """Return uncompiled (generator, discriminator) for a run config (presets.CLASSIC lists its options)."""
    class_count = len(class_names(config))
    generator = define_generator(config["latent_dim"], config["width"], config["architecture"], config["batch_norm"],
                                 config["conditional"], config["image_size"], class_count)
    discriminator = define_discriminator(config["architecture"], config["width"], config["dropout"],
                                         config["spectral_norm"], config["loss"], config["augment"],
                                         config["conditional"], config["image_size"], class_count)
    return generator, discriminator


def clip_value(config):
    """The weight-clipping range of the critic: the original WGAN's when
    `--loss wasserstein` has no spectral normalization to bound it, else none."""
    wasserstein = config.get("loss") == "wasserstein"
    return WEIGHT_CLIP if wasserstein and not config.get("spectral_norm") else 0.0


@keras.saving.register_keras_serializable(package="gan")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate rising in a straight line to `peak` over `steps` updates, then flat.

    "Gradual training": the first updates of a GAN act on random networks and
    the largest gradients come first; small steps then avoid an early
    collapse. The step counted is the optimizer's own update count.
    """

    def __init__(self, peak, steps):
        self.peak, self.steps = peak, steps

    def __call__(self, step):
        progress = keras.ops.minimum(1.0, (keras.ops.cast(step, "float32") + 1.0) / float(self.steps))
        return self.peak * progress

    def get_config(self):
        return {"peak": self.peak, "steps": self.steps}


def adam(config, learning_rate):
    """Adam as DCGAN set it: beta_1 0.5 (the default 0.9 keeps too much momentum
    for a target that moves every step). The sngan preset uses 0.0 and 0.9."""
    warmup = config["warmup_steps"]
    schedule = LinearWarmup(learning_rate, warmup) if warmup else learning_rate
    return keras.optimizers.Adam(schedule, beta_1=config["beta1"], beta_2=config["beta2"])


def define_gan(generator, discriminator, config, jit_compile=False):
    """Compile D on its own, then build and compile the stacked model D(G(z)).

    `config` is a full run config (a preset and the typed flags): the
    training defaults live there, not here.

    Each model gets its own optimizer, because each updates different weights,
    and its own learning rate (`lr_d`, `lr_g`: separate rates allow "two time-scale" updates, D faster
    than G; the presets keep them equal).
    `jit_compile` compiles each training step with XLA (see train.py --jit-compile).

    D is not frozen here. Keras 3 reads `trainable` when a model's train step is
    first traced, so train.py sets D.trainable before each train_on_batch
    (FREEZING, parts 1 and 2 there).
    """
    loss = config["loss"]
    discriminator.compile(optimizer=adam(config, config["lr_d"]), loss=discriminator_loss(loss),
                          metrics=discriminator_metrics(loss), jit_compile=jit_compile)
    noise = keras.Input(shape=generator.inputs[0].shape[1:], name="noise")
    if config["conditional"]:
        # The same classes go to both networks: G draws an image of class y,
        # and D judges "is this a real image of class y?".
        classes = keras.Input(shape=(), dtype="int32", name="classes")
        gan = keras.Model([noise, classes], discriminator([generator([noise, classes]), classes]), name="gan")
    else:
        gan = keras.Model(noise, discriminator(generator(noise)), name="gan")
    gan.compile(optimizer=adam(config, config["lr_g"]), loss=generator_loss(loss), jit_compile=jit_compile)
    return gan


def build_optimizer_state(discriminator, gan):
    """Create both optimizers' slot variables now, instead of at the first step.

    Keras creates an optimizer's variables lazily. A checkpoint can only be
    loaded into optimizers whose variables already exist, so resuming calls
    this first (machinery/session.py calls it when resuming). The trainable flags matter here exactly as
    in train.py's two step functions.
    """
    discriminator.trainable = True
    discriminator.optimizer.build(discriminator.trainable_variables)
    discriminator.trainable = False
    gan.optimizer.build(gan.trainable_variables)


def make_generate(generator, jit_compile=False):
    """A compiled function noise (or [noise, classes]) -> images for D's step, in training mode.

    Calling the generator inside one tf.function avoids predict()'s per-call
    machinery, and the images stay tensors on the device for D's step.
    Training mode matters with batch norm: the stacked model runs G with the
    batch's own statistics, so the fakes D learns from must be made the same way.
    """
    # The only TensorFlow call in this file: the networks and the stacked model are
    # plain Keras 3 and run on its JAX backend too (benchmarks/gpu_check.py).
    import tensorflow as tf

    def generate(noise, classes=None):
        return generator(noise if classes is None else [noise, classes], training=True)

    return tf.function(generate, jit_compile=jit_compile)


def sample_noise(rng, count, latent_dim):
    """z ~ N(0, 1): `count` noise vectors of `latent_dim` numbers, what the generator turns into images.
    Every noise the project draws (training, the fixed grid, samples.py, evaluate.py) comes from here."""
    return rng.standard_normal((count, latent_dim), dtype=np.float32)


def generator_inputs(config, count, rng):
    """(noise, classes) for `count` generated images: z ~ N(0, 1), and for a
    conditional GAN each image's class y drawn uniformly from the classes it
    trains on (else classes is None)."""
    noise = sample_noise(rng, count, config["latent_dim"])
    classes = trained_classes(config)
    return noise, None if classes is None else rng.choice(np.asarray(classes, np.int32), count)


@functools.lru_cache(maxsize=8)
def labels(count, value):
    """A [count, 1] array full of `value`, built once per shape and reused."""
    return np.full((count, 1), value, np.float32)


def discriminator_batch(real_images, fake_images, real_label=REAL, real_classes=None, fake_classes=None):
    """D's training batch: real images (label `real_label`, 1 unless smoothed) followed by fakes (label 0),
    as (inputs, targets); a conditional D's inputs also hold each image's class.

    One concatenated batch means one pass and one update instead of two; every
    loss here is a mean over images, so the objective is the same. `real_label`
    below 1 is one-sided label smoothing (Salimans et al. 2016): D is never
    asked to be certain an image is real.
    """
    images = keras.ops.concatenate([real_images, fake_images])
    targets = np.concatenate([labels(len(real_images), real_label), labels(len(fake_images), FAKE)])
    if real_classes is None:
        return images, targets
    return [images, keras.ops.concatenate([real_classes, fake_classes])], targets


def clip_weights(discriminator, limit):
    """WGAN's Lipschitz bound: clip every weight of the critic to [-limit, limit]."""
    for variable in discriminator.trainable_variables:
        variable.assign(keras.ops.clip(variable, -limit, limit))


def training_warnings(row, grid_images, groups=1):
    """Plain-language warnings about an epoch's metrics row and its progress grid (machinery/callbacks.py
    prints them at each epoch's end).

    The usual failure modes of a GAN show up here before they show up in the
    images: D winning every call (G gets no useful gradient), D failing on one
    side (it has stopped learning), or G making the same image for any noise
    ("mode collapse"). A conditional GAN's grid has one group of rows per class
    (`groups`): the spread counts within each class, where collapse hides.
    """
    found = []
    if row["step"] < WARN_AFTER_STEPS:
        return found
    real, fake = row["d_acc_real"], row["d_acc_fake"]
    if real >= SATURATED_ACCURACY and fake >= SATURATED_ACCURACY:
        found.append(f"the discriminator is right {100 * min(real, fake):.0f}% of the time on real and fake: "
                     "the generator gets little to learn from. Try --label-smoothing 0.1, more --dropout, "
                     "--augment color,translation (--augment ada on a small set), --spectral-norm, or a lower --lr-d.")
    elif min(real, fake) <= 1 - SATURATED_ACCURACY:
        side = "real" if real < fake else "generated"
        found.append(f"the discriminator calls almost every {side} image wrong "
                     f"(accuracy {100 * min(real, fake):.0f}%): it has lost the game. "
                     "Try a higher --lr-d, --d-steps 2, or less --dropout.")
    spread = min(float(np.mean(np.std(group, axis=0))) for group in np.split(grid_images, groups))
    if spread < COLLAPSED_SPREAD:
        where = "within one class's row" if groups > 1 else "across its images"
        found.append(f"the fixed-noise grid barely varies (pixel spread {spread:.3f} {where}, real data "
                     "~0.5): the generator may have collapsed to a few images. Try --loss hinge with "
                     "--spectral-norm, --batch-norm, or resume from an earlier checkpoint with a lower --lr-g.")
    return found
