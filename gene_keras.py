"""The generator: a random latent vector in, a 32x32 colour image out.

It runs the discriminator's recipe backwards: a Dense layer makes a small 4x4
feature map, and three stride-2 transposed convolutions double its size to
8x8, 16x16 and 32x32. The last layer is a 3x3 convolution to three colour
channels with tanh, so every pixel lies in [-1, 1]: the same range that
`defDATA.scale_images` gives the real images (see there why this matters).

`defGAN.py` stacks it in front of the discriminator; `samples.py` draws images from it.
"""
import keras
from keras import layers

from discri_keras import scaled


def define_generator(latent_dim=100, width=1.0):
    """Return an uncompiled Keras model: [N, latent_dim] -> [N, 32, 32, 3] in [-1, 1]."""
    noise = keras.Input(shape=(latent_dim,), name="noise")                      # latent_dim
    channels = scaled(256, width)
    x = layers.Dense(4 * 4 * channels)(noise)                                   # 4096
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((4, 4, channels))(x)                                     # 4x4x256
    # Each stride-2 transposed convolution doubles height and width.
    x = layers.Conv2DTranspose(scaled(128, width), 4, strides=2, padding="same")(x)  # 8x8x128
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2DTranspose(scaled(128, width), 4, strides=2, padding="same")(x)  # 16x16x128
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2DTranspose(scaled(128, width), 4, strides=2, padding="same")(x)  # 32x32x128
    x = layers.LeakyReLU(0.2)(x)
    images = layers.Conv2D(3, 3, padding="same", activation="tanh", name="images")(x)  # 32x32x3
    return keras.Model(noise, images, name="generator")
