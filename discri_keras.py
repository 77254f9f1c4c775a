"""The discriminator: a 32x32 colour image in, one "is this real?" score out (64x64 or 128x128 with
train.py --image-size: one more halving block per doubling, first, so the last features are always 4x4).

Two architectures (`--architecture`):
  classic   the DCGAN-style network of the widely copied Keras CIFAR-10
            tutorial: 3x3 convolutions 64-128-128-256, the last three strided, instead of
            pooling (the network learns its own downsampling), LeakyReLU 0.2,
            dropout before the last layer.
  standard  the "standard CNN" of the SNGAN paper (Miyato et al. 2018, table 3):
            pairs of 3x3 stride-1 and 4x4 stride-2 convolutions, 64 to 512
            filters, LeakyReLU 0.1. Deeper, and about 3x the classic's FLOPs.
LeakyReLU instead of ReLU keeps gradients flowing for negative inputs, which
matters because the generator learns *only* through these gradients.

Options: `spectral_norm` wraps every layer in Keras' SpectralNormalization
(which divides each weight matrix by its largest singular value, so no layer
amplifies its input by more than 1: D stays smooth and its gradients useful),
`loss` picks the output activation (see losses.py), `augment` puts an
augmentation layer first: DiffAugment's, or adaptive augmentation (ADA) for small sets (see augment.py).

`conditional` makes it the projection discriminator (Miyato & Koyama 2018):
it also takes the class y the image claims to be, and scores
    score(x, y) = psi(phi(x)) + <embed(y), phi(x)>
where phi(x) are the last features, psi the usual one-unit layer ("is this
a real image?") and embed(y) a learned vector per class ("is it a real image
*of class y*?"). Feeding the label in as extra input channels instead lets
the network ignore it or use it only late and weakly; the inner product makes
the class term a simple, well-conditioned function of the same features,
which is the form the optimal discriminator of a conditional GAN takes
under mild assumptions (the paper's derivation); in the paper it beat
label-as-input discriminators on CIFAR-10 and ImageNet.

There is deliberately no BatchNormalization: inside the stacked model the
discriminator is frozen, and a frozen BatchNorm layer switches to its running
(inference) statistics, so it would behave differently in the two steps.
`defGAN.py` compiles it and stacks it behind the generator.
"""
import keras
from keras import layers

from augment import LAYER_NAME, DiffAugment
from defDATA import extra_blocks
from losses import OUTPUT_ACTIVATION
from presets import scaled


# Only for --spectral-norm: skip it on a first reading; define_discriminator below is the network.
@keras.saving.register_keras_serializable(package="gan")
class FrozenAwareSpectralNormalization(layers.SpectralNormalization):
    """Keras' SpectralNormalization, which respects freezing and class tables.

    In training mode Keras' wrapper runs a power iteration and *writes* the
    normalized kernel back into the layer's kernel variable. Inside the stacked
    model the discriminator is frozen but still called with training=True
    (so dropout and DiffAugment act), and the plain wrapper would then change
    D's weights during the generator's step. Here it normalizes only when the
    layer is trainable, i.e. in D's own step.

    Keras' wrapper also casts the wrapped layer's output to the dtype of its
    *input*. For a Conv2D or Dense that is a float and harmless, but the
    projection discriminator's class table is an Embedding, whose input is the
    int32 class number: the class vectors came out truncated to integers, and
    no gradient reached the table, so D never learned its classes (only the
    normalization's rescaling moved it). The output here keeps the layer's own
    dtype, as its precision policy sets it.
    """

    def call(self, inputs, training=False):
        if training and self.trainable:
            # The same power iteration as Keras' wrapper (normalized_weights), skipped
            # while the kernel is all zeros, as Keras does.
            new_vector_u, new_kernel = keras.ops.cond(
                keras.ops.all(keras.ops.equal(self.kernel.value, 0)),
                lambda: (self.vector_u.value, self.kernel.value),
                self.normalized_weights)
            self.vector_u.assign(new_vector_u)
            self.kernel.assign(new_kernel)
        return self.layer(inputs)


def define_discriminator(architecture, width, dropout, spectral_norm, loss, augment, conditional, image_size,
                         class_count):
    """Return an uncompiled Keras model: [N, image_size, image_size, 3] in [-1, 1] -> [N, 1] score.

    Conditional: [images, classes [N] (0 to class_count - 1)] -> [N, 1] score.
    `width` scales every layer's filter count (1.0 = the published network,
    0.125 = a tiny model for tests).
    """
    def weighted(layer):
        # The wrapper takes its layer's precision policy: the last layer's float32 must hold for its output too.
        return FrozenAwareSpectralNormalization(layer, dtype=layer.dtype_policy) if spectral_norm else layer

    # The shape after each layer, at --width 1.0 (the published network) and 32x32 images. --width multiplies
    # every channel count: the default preset's 0.5 halves them (32x32x32 first, 4x4x128 last, for classic).
    # Bigger images (--image-size) get one more halving block per doubling, first, with the first block's
    # filters: 64x64 images become 32x32x64 after it, 128x128 ones 64x64x64 and then 32x32x64, and the
    # network goes on as for 32x32 images. Why first: there it brings the bigger image down to the size
    # the 32x32 network works at, so everything after it, down to the 4x4 features and the Dense layer
    # (and class projection) that reads them, is that network unchanged; and its few filters (64) sit
    # where the feature maps are largest and each filter costs the most. gene_keras.py grows at its
    # image end, last, for the same reasons.
    more = [64] * extra_blocks(image_size)
    images = keras.Input(shape=(image_size, image_size, 3), name="images")       # 32x32x3 (or 64x64x3, 128x128x3)
    x = DiffAugment(augment, name=LAYER_NAME)(images) if augment else images  # the same shape
    if architecture == "classic":
        x = layers.LeakyReLU(0.2)(weighted(layers.Conv2D(scaled(64, width), 3, padding="same"))(x))   # 32x32x64
        for filters in more + [128, 128, 256]:  # 16x16x128, 8x8x128, 4x4x256
            x = layers.LeakyReLU(0.2)(weighted(layers.Conv2D(scaled(filters, width), 3, strides=2, padding="same"))(x))
    else:
        for filters in more + [64, 128, 256]:  # 32x32x64 -> 16x16x64, 16x16x128 -> 8x8x128, 8x8x256 -> 4x4x256
            x = layers.LeakyReLU(0.1)(weighted(layers.Conv2D(scaled(filters, width), 3, padding="same"))(x))
            x = layers.LeakyReLU(0.1)(weighted(layers.Conv2D(scaled(filters, width), 4, strides=2, padding="same"))(x))
        x = layers.LeakyReLU(0.1)(weighted(layers.Conv2D(scaled(512, width), 3, padding="same"))(x))  # 4x4x512
    x = layers.Flatten()(x)                                                       # 4096 (classic), 8192 (standard)
    if dropout:
        x = layers.Dropout(dropout)(x)
    # float32 output whatever the precision policy: losses need its full range.
    if not conditional:
        score = weighted(layers.Dense(1, activation=OUTPUT_ACTIVATION[loss], dtype="float32"))(x)  # 1
        return keras.Model(images, score, name="discriminator")
    classes = keras.Input(shape=(), dtype="int32", name="classes")               # one class number per image
    realness = weighted(layers.Dense(1, dtype="float32"))(x)                      # psi(phi(x)): 1
    # With --spectral-norm the class vectors are normalized too, as in the paper: the class term stays bounded.
    class_vector = weighted(layers.Embedding(class_count, x.shape[-1], dtype="float32"))(classes)  # embed(y)
    projection = layers.Dot(axes=1, dtype="float32")([class_vector, x])          # <embed(y), phi(x)>: 1
    score = layers.Add(dtype="float32")([realness, projection])                  # 1
    score = layers.Activation(OUTPUT_ACTIVATION[loss], dtype="float32")(score)    # the loss's output range
    return keras.Model([images, classes], score, name="discriminator")
