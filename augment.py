"""Augmentation on D's input path: DiffAugment (Zhao et al. 2020) and adaptive augmentation (ADA, Karras et al. 2020).

Augmenting only the real images would teach the generator to produce
augmented-looking images (shifted, cut out, recoloured): the "leak". Both
methods here apply the *same kind* of random transform to every image the
discriminator sees, real or generated, in both training steps. Each transform
is built from differentiable operations (adds, multiplies, flips, and shifts
written as matrix products), so in the stacked model the generator's
gradients flow back through it.

The layer is the discriminator's first layer (discri_keras.py). It acts only
when called with training=True, which `train_on_batch` does for both the
discriminator and the stacked model; `samples.py` and `evaluate.py` use the
generator alone and never pass through it. Images are in [-1, 1], as everywhere else.

DiffAugment policies (`--augment color,translation,cutout`, any of them):
"color" (brightness, saturation, contrast), "translation" (shift by up to 1/8
of the image, zero fill), "cutout" (a random square of half the image size
set to zero). They transform every image, always.

ADA (`--augment ada`), for small sets. With a few hundred or thousand images
D soon memorises them: its scores on the real images drift towards "sure",
on anything else towards "fake", and what it tells G no longer generalises
beyond those images. G's signal vanishes or turns to noise and training
collapses, long before G is good. Augmentation shows D a new variant of each
image every time, so memorising no longer pays. But strong augmentation from
the first step slows a run that is not overfitting yet, and how much a set
needs depends on its size. ADA therefore transforms each image with a
probability p that it tunes as it trains:
  * The overfitting signal r_t = E[sign(D(x))] over real images x: +1 when D
    calls every real image real, 0 when it calls half of them real. On images
    it has not memorised, a healthy D stays unsure, so r_t well above 0 means
    D is overfitting. (How r_t is read from the step's statistics: see
    `overfitting_signal`.)
  * Every ADA_INTERVAL steps, p moves a fixed amount up when the interval's
    mean r_t is above ADA_TARGET (0.6, the paper's: D calls 80 % of the real
    images real) and down when it is below,
    clipped to [0, 1]. So p starts at 0, rises while D is too sure, and settles
    where D is as unsure as the target asks; on a large set it stays near 0.
  * Each transform of the pipeline acts on each image independently, with
    probability p. Why this does not leak: while p < 1, the untransformed image
    stays the most likely outcome of every transform (a rotation by 0 degrees
    is likelier than by 90, 180 or 270), so the only way G can match the
    augmented real images is to match the real images themselves. That is the
    theory; in practice, as p nears 1 the untransformed image is only barely the
    likeliest, D can hardly tell G's rotated or shifted images from the augmented
    real ones, and G may drift there (the paper saw generated images come out
    rotated once p passed about 0.8, and no leak below). p is not capped here:
    if it climbs past 0.8 (augment_p in metrics.csv, augmentation/p in
    TensorBoard), look for turned, shifted or cut-out images in the grids; the
    set is then very small for a GAN.
The pipeline (ADA_PIPELINE, in the paper's order): x-flip, rotation by a
multiple of 90 degrees, integer translation, brightness, saturation and
contrast, cutout. Of the paper's 18 transforms this leaves out: isotropic and
anisotropic scaling, arbitrary rotation and fractional translation (they need
resampling with a careful low-pass filter, or the filter's own artefacts leak
into G; costly on a CPU), luma flip and hue rotation (colour-matrix
transforms; brightness, saturation and contrast already vary the colours),
image-space filtering and additive noise (the paper measured them helping
least). The paper's pipeline pads translated images by reflection; ours fills
with zeros, as DiffAugment's translation does: with p < 1 it does not leak.
"""
import keras
import numpy as np
from keras import layers, ops

# The policy names live with the other options' choices; ADAPTIVE is "ada".
from presets import ADAPTIVE, parse_policy

LAYER_NAME = "diff_augment"  # the discriminator's first layer (discri_keras.py); ADA's controller finds it by name
ADA_PIPELINE = ("flip", "rotate90", "translation", "color", "cutout")  # the transforms of --augment ada, in order
ADA_TARGET = 0.6  # the overfitting signal r_t that p steers towards (the paper's value)
ADA_INTERVAL = 4  # steps between two adjustments of p (the paper's: 4 minibatches)
# How fast p moves: it could go from 0 to 1 while D sees this many real images. The paper's 500,000 suits
# its runs of 25 million images and more; a 30-minute CPU run of the default preset (batch 64: 32 real
# images per step, about 9 steps a second on 2 cores, docs/results.md) sees about 500,000 in all, so
# at the paper's speed p would barely have moved when a small set is already memorised (a few thousand
# steps). At 100,000, p can cross [0, 1] in about 3,100 steps (some 6 minutes), so it follows D within
# the first minutes, while each adjustment stays small (0.0013 at batch 64), so p does not jitter.
ADA_SPEED_IMAGES = 100_000


def shift_matrices(shifts, size):
    """[N, size, size] matrices M with (M @ x)[i] = x[i - shift], zero where that falls outside."""
    rows = ops.arange(size, dtype="float32")[None, :, None]
    columns = ops.arange(size, dtype="float32")[None, None, :]
    return ops.cast(ops.equal(rows - columns, ops.cast(shifts, "float32")[:, None, None]), "float32")


def only(chosen, value, identity):
    """`value` for the chosen images, `identity` for the others; `value` for all when `chosen` is None.
    `value`: a transform's parameter of each image ([N] or [N, 1, 1, 1]), `identity` the one that changes
    nothing; or the transformed images [N, H, W, C], `identity` the images as they were."""
    if chosen is None:
        return value
    return ops.where(ops.reshape(chosen, (-1,) + (1,) * (len(value.shape) - 1)), value, identity)


@keras.saving.register_keras_serializable(package="gan")
class DiffAugment(layers.Layer):
    """Random transforms of every image, only while training: DiffAugment's, or ADA's with probability p."""

    def __init__(self, policy, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.policy, self.names = policy, parse_policy(policy)
        # A SeedGenerator's state is a variable, so checkpoints save it and a
        # resumed run draws the same augmentations as an uninterrupted one.
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.adaptive = self.names == (ADAPTIVE,)
        if self.adaptive:
            self.names = ADA_PIPELINE
            # p, and the sum of r_t since p last moved, are the layer's own non-trainable weights: D's
            # optimizer never touches them, and the weight files and checkpoints carry them, so a
            # resumed run goes on with the same p, mid-interval included.
            self.probability = self.add_weight(shape=(), initializer="zeros", trainable=False, name="probability")
            self.signal_sum = self.add_weight(shape=(), initializer="zeros", trainable=False, name="signal_sum")

    def uniform(self, shape, low=0.0, high=1.0):
        return keras.random.uniform(shape, low, high, dtype="float32", seed=self.seed_generator)

    def acting(self, n, p):
        """Which of the n images a transform acts on: each with probability p (ADA). None means all of them
        (DiffAugment's policies, p None): they draw nothing here, so their random streams stay as they were."""
        return None if p is None else ops.less(self.uniform((n,)), p)

    def flip(self, x, p=None):
        n = ops.shape(x)[0]  # mirror left-right (the paper draws mirrored or not for each image acted on)
        mirrored = only(self.acting(n, p), ops.less(self.uniform((n, 1, 1, 1)), 0.5), False)
        return ops.where(mirrored, ops.flip(x, axis=2), x)

    def rotate90(self, x, p=None):
        n = ops.shape(x)[0]  # rotate by 0, 90, 180 or 270 degrees, at random; images are square
        turns = only(self.acting(n, p), ops.floor(self.uniform((n, 1, 1, 1), 0, 4)), 0.0)
        quarter = ops.flip(ops.transpose(x, (0, 2, 1, 3)), axis=1)  # 90 degrees anticlockwise
        half = ops.flip(x, axis=(1, 2))
        three_quarters = ops.flip(ops.transpose(x, (0, 2, 1, 3)), axis=2)
        for count, rotated in ((1, quarter), (2, half), (3, three_quarters)):
            x = ops.where(ops.equal(turns, count), rotated, x)
        return x

    def color(self, x, p=None):
        n = ops.shape(x)[0]  # under ADA, brightness, saturation and contrast each act with probability p
        x = only(self.acting(n, p), x + self.uniform((n, 1, 1, 1), -0.5, 0.5) * 2.0, x)  # brightness (x2: [-1, 1])
        mean = ops.mean(x, axis=3, keepdims=True)
        x = only(self.acting(n, p), (x - mean) * self.uniform((n, 1, 1, 1), 0.0, 2.0) + mean, x)  # saturation
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        return only(self.acting(n, p), (x - mean) * self.uniform((n, 1, 1, 1), 0.5, 1.5) + mean, x)  # contrast

    def translation(self, x, p=None, ratio=0.125):
        n, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        limit_h, limit_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
        chosen = self.acting(n, p)
        shift_h = only(chosen, ops.floor(self.uniform((n,), -limit_h, limit_h + 1)), 0.0)
        shift_w = only(chosen, ops.floor(self.uniform((n,), -limit_w, limit_w + 1)), 0.0)
        rows, columns = shift_matrices(shift_h, height), shift_matrices(shift_w, width)
        x = ops.einsum("nij,njwc->niwc", rows, x)  # move rows
        return ops.einsum("nij,nhjc->nhic", columns, x)  # move columns

    def cutout(self, x, p=None, ratio=0.5):
        n, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        chosen = self.acting(n, p)
        half_h, half_w = height * ratio / 2, width * ratio / 2
        centre_h = ops.floor(self.uniform((n, 1, 1, 1), 0, height))
        centre_w = ops.floor(self.uniform((n, 1, 1, 1), 0, width))
        rows = ops.arange(height, dtype="float32")[None, :, None, None]
        columns = ops.arange(width, dtype="float32")[None, None, :, None]
        inside = ops.logical_and(ops.abs(rows - centre_h) < half_h, ops.abs(columns - centre_w) < half_w)
        return x * (1.0 - ops.cast(only(chosen, inside, False), "float32"))

    def call(self, images, training=None):
        if not training:
            return images
        # float32 whatever the precision policy (train.py --precision): TensorFlow
        # has no 16-bit `range` for the cutout square, and on three channels
        # float32 costs next to nothing.
        x = ops.cast(images, "float32")
        p = self.probability if self.adaptive else None
        for name in self.names:
            x = getattr(self, name)(x, p)
        return ops.cast(x, images.dtype)

    def get_config(self):
        return dict(super().get_config(), policy=self.policy)


def overfitting_signal(d_acc_real):
    """ADA's r_t = E[sign(D(x))] over a step's real images, from d_acc_real, the fraction D calls real.

    The paper's D ends in a raw score whose sign is its verdict. Here D calls an image real when its output
    is above its loss's decision threshold (losses.DECISION_THRESHOLD): the sigmoid's 0.5, which is the raw
    score's 0, for bce; 0.5, midway between the targets 0 and 1, for lsgan; 0 for hinge and wasserstein's
    signed scores. d_acc_real counts exactly those images, so the mean of +1 (called real) and -1 (called
    fake) is acc - (1 - acc). D computed it in its training step, on the augmented real images, as in the paper.
    """
    return 2.0 * d_acc_real - 1.0


class AdaptiveAugmentation:
    """ADA's controller: after every training step, `update` moves p from D's overfitting signal.

    `discriminator` has an "ada" augmentation layer; `real_images_per_step`: the real images D sees per
    training step (defDATA.real_images_per_step), the paper's batch size in its speed formula.
    """

    def __init__(self, discriminator, real_images_per_step):
        self.layer = discriminator.get_layer(LAYER_NAME)
        # The paper's step: batch size x interval / speed, so p's speed in images does not depend on the batch.
        self.adjustment = real_images_per_step * ADA_INTERVAL / ADA_SPEED_IMAGES

    def update(self, step, d_acc_real):
        """Add step `step`'s r_t to the interval's sum; at the interval's end, move p. Returns p.

        The interval ends by the global step count, and the sum is a weight of the layer, so a run resumed
        from any step (checkpoints save the layer's weights) adjusts exactly as an uninterrupted one."""
        probability, signal_sum = self.layer.probability, self.layer.signal_sum
        signal_sum.assign(signal_sum + overfitting_signal(d_acc_real))
        if (step + 1) % ADA_INTERVAL == 0:
            mean_signal = float(signal_sum.numpy()) / ADA_INTERVAL
            moved = float(probability.numpy()) + np.sign(mean_signal - ADA_TARGET) * self.adjustment
            probability.assign(min(max(moved, 0.0), 1.0))
            signal_sum.assign(0.0)
        return float(probability.numpy())
