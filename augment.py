"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) on D's input path.

Augmenting only the real images would teach the generator to produce
augmented-looking images (shifted, cut out, recoloured). DiffAugment applies
the *same kind* of random transform to every image the discriminator sees,
real or generated, in both training steps. Each transform is built from
differentiable operations (adds, multiplies, and shifts written as matrix
products), so in the stacked model the generator's gradients flow back
through it.

The layer is the discriminator's first layer (discri_keras.py). It acts only
when called with training=True, which `train_on_batch` does for both the
discriminator and the stacked model; `samples.py` and `evaluate.py` use the
generator alone and never pass through it.

Policies: "color" (brightness, saturation, contrast), "translation" (shift by
up to 1/8 of the image, zero fill), "cutout" (a random square of half the
image size set to zero). Images are in [-1, 1], as everywhere else.
"""
import keras
from keras import layers, ops

from presets import parse_policy  # the policy names live with the other options' choices


def shift_matrices(shifts, size):
    """[N, size, size] matrices M with (M @ x)[i] = x[i - shift], zero where that falls outside."""
    rows = ops.arange(size, dtype="float32")[None, :, None]
    columns = ops.arange(size, dtype="float32")[None, None, :]
    return ops.cast(ops.equal(rows - columns, ops.cast(shifts, "float32")[:, None, None]), "float32")


@keras.saving.register_keras_serializable(package="gan")
class DiffAugment(layers.Layer):
    """Random colour / translation / cutout for every image, only while training."""

    def __init__(self, policy, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.policy, self.names = policy, parse_policy(policy)
        # A SeedGenerator's state is a variable, so checkpoints save it and a
        # resumed run draws the same augmentations as an uninterrupted one.
        self.seed_generator = keras.random.SeedGenerator(seed)

    def uniform(self, shape, low=0.0, high=1.0):
        return keras.random.uniform(shape, low, high, dtype="float32", seed=self.seed_generator)

    def color(self, x):
        n = ops.shape(x)[0]
        x = x + self.uniform((n, 1, 1, 1), -0.5, 0.5) * 2.0  # brightness (x2: our range is [-1, 1])
        mean = ops.mean(x, axis=3, keepdims=True)
        x = (x - mean) * self.uniform((n, 1, 1, 1), 0.0, 2.0) + mean  # saturation
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) * self.uniform((n, 1, 1, 1), 0.5, 1.5) + mean  # contrast

    def translation(self, x, ratio=0.125):
        n, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        limit_h, limit_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
        shift_h = ops.floor(self.uniform((n,), -limit_h, limit_h + 1))
        shift_w = ops.floor(self.uniform((n,), -limit_w, limit_w + 1))
        rows, columns = shift_matrices(shift_h, height), shift_matrices(shift_w, width)
        x = ops.einsum("nij,njwc->niwc", rows, x)  # move rows
        return ops.einsum("nij,nhjc->nhic", columns, x)  # move columns

    def cutout(self, x, ratio=0.5):
        n, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        half_h, half_w = height * ratio / 2, width * ratio / 2
        centre_h = ops.floor(self.uniform((n, 1, 1, 1), 0, height))
        centre_w = ops.floor(self.uniform((n, 1, 1, 1), 0, width))
        rows = ops.arange(height, dtype="float32")[None, :, None, None]
        columns = ops.arange(width, dtype="float32")[None, None, :, None]
        inside = ops.logical_and(ops.abs(rows - centre_h) < half_h, ops.abs(columns - centre_w) < half_w)
        return x * (1.0 - ops.cast(inside, "float32"))

    def call(self, images, training=None):
        if not training:
            return images
        # float32 whatever the precision policy (train.py --precision): TensorFlow
        # has no 16-bit `range` for the cutout square, and on three channels
        # float32 costs next to nothing.
        x = ops.cast(images, "float32")
        for name in self.names:
            x = getattr(self, name)(x)
        return ops.cast(x, images.dtype)

    def get_config(self):
        return dict(super().get_config(), policy=self.policy)
