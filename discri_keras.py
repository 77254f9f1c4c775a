"""The discriminator: a 32x32 colour image in, one "is this real?" score out.

This is the DCGAN-style network of the widely copied Keras CIFAR-10 tutorial:
strided 3x3 convolutions instead of pooling (the network learns its own
downsampling), LeakyReLU instead of ReLU (gradients keep flowing for negative
inputs, which matters because the generator learns *only* through these
gradients), dropout before the last layer, and a sigmoid output read as the
probability that the input is a real CIFAR-10 image.

`defGAN.py` compiles it and stacks it behind the generator; `train.py` trains it.
There is deliberately no BatchNormalization: inside the stacked model the
discriminator is frozen, and a frozen BatchNorm layer switches to its running
(inference) statistics, so it would behave differently in the two steps.
"""
import keras
from keras import layers

from defDATA import IMAGE_SHAPE


def scaled(filters, width):
    """Filter count times the width multiplier (at least 1)."""
    return max(1, int(round(filters * width)))


def define_discriminator(width=1.0, dropout=0.4, image_shape=IMAGE_SHAPE):
    """Return an uncompiled Keras model: [N, 32, 32, 3] in [-1, 1] -> [N, 1] in (0, 1).

    `width` scales every layer's filter count (1.0 = the classic tutorial,
    0.25 = a tiny model for tests).
    """
    images = keras.Input(shape=image_shape, name="images")                    # 32x32x3
    x = layers.Conv2D(scaled(64, width), 3, padding="same")(images)            # 32x32x64
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(scaled(128, width), 3, strides=2, padding="same")(x)     # 16x16x128
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(scaled(128, width), 3, strides=2, padding="same")(x)     # 8x8x128
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(scaled(256, width), 3, strides=2, padding="same")(x)     # 4x4x256
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)                                                     # 4096
    x = layers.Dropout(dropout)(x)                                              # 4096
    score = layers.Dense(1, activation="sigmoid", name="real_probability")(x)   # 1
    return keras.Model(images, score, name="discriminator")
