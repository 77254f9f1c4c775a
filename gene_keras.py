"""The generator: a random latent vector in, a 32x32 colour image out.

It runs the discriminator's recipe backwards: a Dense layer makes a small 4x4
feature map, and three stride-2 transposed convolutions double its size to
8x8, 16x16 and 32x32. The last layer is a 3x3 convolution to three colour
channels with tanh, so every pixel lies in [-1, 1]: the same range that
`defDATA.scale_images` gives the real images (see there why this matters).

Two architectures, matching discri_keras.py:
  classic   the Keras tutorial: 256 channels at 4x4, then 128 filters at every
            size, LeakyReLU 0.2.
  standard  SNGAN's "standard CNN": 512 channels at 4x4, halving to 64 at 32x32,
            ReLU.
`batch_norm` adds BatchNormalization before each activation (DCGAN's advice;
SNGAN's generator has it). It normalizes each layer's outputs over the batch,
which keeps early training from stalling on badly scaled activations.
BatchNorm is safe here, unlike in the discriminator: the generator is never
frozen while it trains, so it always uses the current batch's statistics.

`defGAN.py` stacks it in front of the discriminator; `samples.py` draws images from it.
"""
import keras
from keras import layers

from presets import scaled


def define_generator(latent_dim, width, architecture, batch_norm):
    """Return an uncompiled Keras model: [N, latent_dim] -> [N, 32, 32, 3] in [-1, 1]."""
    if architecture == "classic":
        channels, activation = [scaled(c, width) for c in (256, 128, 128, 128)], (lambda: layers.LeakyReLU(0.2))
    else:
        channels, activation = [scaled(c, width) for c in (512, 256, 128, 64)], layers.ReLU

    def normalized(x):
        return activation()(layers.BatchNormalization()(x) if batch_norm else x)

    noise = keras.Input(shape=(latent_dim,), name="noise")                       # latent_dim
    x = normalized(layers.Dense(4 * 4 * channels[0])(noise))                      # 4096 (classic), 8192 (standard)
    x = layers.Reshape((4, 4, channels[0]))(x)                                    # 4x4x256 (classic), 4x4x512
    # Each stride-2 transposed convolution doubles height and width.
    for filters in channels[1:]:  # 8x8, 16x16, 32x32 with 128 (classic) or 256, 128, 64 (standard) filters
        x = normalized(layers.Conv2DTranspose(filters, 4, strides=2, padding="same")(x))
    # float32 output whatever the precision policy: images are compared with real ones in float32.
    images = layers.Conv2D(3, 3, padding="same", activation="tanh", name="images", dtype="float32")(x)  # 32x32x3
    return keras.Model(noise, images, name="generator")
