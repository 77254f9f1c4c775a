"""The generator: a random vector z in (the "latent" noise: latent_dim numbers from N(0, 1)), a 32x32
colour image out (64x64 or 128x128 with train.py --image-size).

It runs the discriminator's recipe backwards: a Dense layer makes a small 4x4
feature map, and three stride-2 transposed convolutions double its size to
8x8, 16x16 and 32x32 (one more for 64x64, two more for 128x128). The last
layer is a 3x3 convolution to three colour channels with tanh, so every pixel
lies in [-1, 1]: the same range that
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

`conditional` (train.py --conditional) adds a second input, the class to draw
(0-9 for CIFAR-10, defDATA.CLASS_NAMES; one per class subfolder of an image
folder), which reaches the network through learned vectors, one per class
(keras.layers.Embedding):
  * without batch norm, the class's vector is concatenated with the noise, so
    the first layer sees both and every later layer inherits the class;
  * with batch norm, every normalization takes its gain and bias from the
    class (ConditionalBatchNormalization, below): the class then steers every
    layer's features directly, which is how SNGAN's and BigGAN's conditional
    generators work, and it costs only two small vectors per class and layer.

`defGAN.py` stacks it in front of the discriminator; `samples.py` draws images from it.
"""
import keras
from keras import layers, ops

from defDATA import extra_blocks
from presets import scaled


# Only for --conditional --batch-norm: skip it on a first reading; define_generator below is the network.
@keras.saving.register_keras_serializable(package="gan")
class ConditionalBatchNormalization(layers.Layer):
    """Batch normalization whose gain and bias depend on the class: inputs [features, classes].

    The features are normalized over the batch as usual, without a gain or bias
    of their own; then each image's features are scaled and shifted by its
    class's learned vectors. Gains start at 1 and biases at 0, so at first
    this is plain batch normalization.
    """

    def __init__(self, class_count, **kwargs):
        super().__init__(**kwargs)
        self.class_count = class_count
        self.normalize = layers.BatchNormalization(center=False, scale=False)

    def build(self, input_shapes):
        features_shape, classes_shape = input_shapes
        channels = features_shape[-1]
        self.normalize.build(features_shape)
        self.gain = layers.Embedding(self.class_count, channels, embeddings_initializer="ones")
        self.bias = layers.Embedding(self.class_count, channels, embeddings_initializer="zeros")
        self.gain.build(classes_shape)
        self.bias.build(classes_shape)

    def call(self, inputs, training=None):
        features, classes = inputs
        features = self.normalize(features, training=training)
        gain, bias = self.gain(classes), self.bias(classes)  # [N, channels] each
        for _ in range(len(features.shape) - 2):  # [N, channels] -> [N, 1, 1, channels] for feature maps
            gain, bias = ops.expand_dims(gain, 1), ops.expand_dims(bias, 1)
        return features * ops.cast(gain, features.dtype) + ops.cast(bias, features.dtype)

    def get_config(self):
        return dict(super().get_config(), class_count=self.class_count)


def define_generator(latent_dim, width, architecture, batch_norm, conditional, image_size, class_count):
    """Return an uncompiled Keras model: [N, latent_dim] -> [N, image_size, image_size, 3] in [-1, 1].

    Conditional: [noise [N, latent_dim], classes [N] (0 to class_count - 1)] -> the same images.
    """
    if architecture == "classic":
        channels, activation = [256, 128, 128, 128], (lambda: layers.LeakyReLU(0.2))
    else:
        channels, activation = [512, 256, 128, 64], layers.ReLU
    # Bigger images need more doublings: one more block per doubling of the size, each with the last
    # block's filters (the extra blocks work at the largest sizes, where every filter costs the most).
    # Last, so that from the noise to 32x32 this is the 32x32 network unchanged (discri_keras.py adds its
    # blocks first, at its image end, for the same reasons).
    channels = [scaled(c, width) for c in channels + channels[-1:] * extra_blocks(image_size)]

    def normalized(x, classes):
        """Batch norm (per class when conditional) if asked for, then the activation."""
        if batch_norm and conditional:
            x = ConditionalBatchNormalization(class_count)([x, classes])
        elif batch_norm:
            x = layers.BatchNormalization()(x)
        return activation()(x)

    # The shape after each layer, at --width 1.0 (the published network). --width multiplies every channel
    # count: the default preset's 0.5 halves them (4x4x128, then 64 filters, for classic).
    noise = keras.Input(shape=(latent_dim,), name="noise")                       # latent_dim
    inputs, x, classes = noise, noise, None
    if conditional:
        classes = keras.Input(shape=(), dtype="int32", name="classes")            # one class number per image
        inputs = [noise, classes]
        if not batch_norm:
            # The class's learned vector, as long as the noise, beside it: 2 x latent_dim. It starts
            # small (Keras' uniform +-0.05, against noise of size ~1) and grows as G learns to use it.
            x = layers.Concatenate()([noise, layers.Embedding(class_count, latent_dim)(classes)])
    x = normalized(layers.Dense(4 * 4 * channels[0])(x), classes)                 # 4096 (classic), 8192 (standard)
    x = layers.Reshape((4, 4, channels[0]))(x)                                    # 4x4x256 (classic), 4x4x512
    # Each stride-2 transposed convolution doubles height and width:
    #   8x8, 16x16, 32x32 with 128 filters each (classic) or 256, 128, 64 (standard);
    #   then, for --image-size 64, 64x64 with 128 (classic) or 64 (standard) filters;
    #   and for --image-size 128 once more, 128x128 with the same.
    for filters in channels[1:]:
        x = normalized(layers.Conv2DTranspose(filters, 4, strides=2, padding="same")(x), classes)
    # float32 output whatever the precision policy: images are compared with real ones in float32.
    images = layers.Conv2D(3, 3, padding="same", activation="tanh", name="images", dtype="float32")(x)  # 32x32x3
    #                                                                                 (64x64x3, 128x128x3)
    return keras.Model(inputs, images, name="generator")
