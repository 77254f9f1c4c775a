"""The two networks: shapes, output ranges and parameter counts."""
import numpy as np
import pytest

from defGAN import build_models
from presets import CLASSIC, scaled


def conv_params(kernel, channels_in, channels_out):
    return kernel * kernel * channels_in * channels_out + channels_out


def expected_generator_params(latent_dim, width):
    base, up = scaled(256, width), scaled(128, width)
    return ((latent_dim + 1) * 16 * base + conv_params(4, base, up)
            + 2 * conv_params(4, up, up) + conv_params(3, up, 3))


def expected_discriminator_params(width):
    c64, c128, c256 = scaled(64, width), scaled(128, width), scaled(256, width)
    return (conv_params(3, 3, c64) + conv_params(3, c64, c128) + conv_params(3, c128, c128)
            + conv_params(3, c128, c256) + 16 * c256 + 1)


def test_classic_parameter_counts_match_the_tutorial():
    # The widely copied Keras CIFAR-10 tutorial prints these totals in its model summaries.
    generator, discriminator = build_models(CLASSIC)
    assert generator.count_params() == 1_466_115 and discriminator.count_params() == 522_497


@pytest.mark.parametrize("latent_dim, width", [(100, 1.0), (16, 0.125), (64, 0.5)])
def test_parameter_counts_follow_the_layer_formulas(latent_dim, width):
    generator, discriminator = build_models(dict(CLASSIC, latent_dim=latent_dim, width=width))
    assert generator.count_params() == expected_generator_params(latent_dim, width)
    assert discriminator.count_params() == expected_discriminator_params(width)


def test_standard_cnn_parameter_counts_follow_the_sngan_table():
    # SNGAN's table 3: G dense 4x4x512, deconvs 256-128-64 with BN, conv to 3;
    # D convs 64(3x3) 64(4x4) 128(3x3) 128(4x4) 256(3x3) 256(4x4) 512(3x3), dense 1.
    g = ((128 + 1) * 16 * 512 + 4 * 16 * 512 + conv_params(4, 512, 256) + 4 * 256
         + conv_params(4, 256, 128) + 4 * 128 + conv_params(4, 128, 64) + 4 * 64 + conv_params(3, 64, 3))
    generator, discriminator = build_models(dict(CLASSIC, architecture="standard", latent_dim=128, batch_norm=True,
                                                 dropout=0.0, loss="hinge"))
    assert generator.count_params() == g
    d = (conv_params(3, 3, 64) + conv_params(4, 64, 64) + conv_params(3, 64, 128) + conv_params(4, 128, 128)
         + conv_params(3, 128, 256) + conv_params(4, 256, 256) + conv_params(3, 256, 512) + 4 * 4 * 512 + 1)
    assert discriminator.count_params() == d


def test_shapes_and_ranges():
    generator, discriminator = build_models(dict(CLASSIC, latent_dim=16, width=0.25))
    # Large noise drives tanh into saturation: outputs must still stay within [-1, 1].
    noise = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32) * 50
    images = generator.predict_on_batch(noise)
    assert images.shape == (5, 32, 32, 3)
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.std() > 0
    scores = discriminator.predict_on_batch(images)
    assert scores.shape == (5, 1) and np.all((scores > 0) & (scores < 1))


@pytest.mark.parametrize("architecture", ["classic", "standard"])
@pytest.mark.parametrize("image_size", [64, 128])
def test_bigger_images_add_one_block_per_doubling(architecture, image_size):
    """--image-size 64 and 128: G draws images of that size, D scores them, and each doubling
    adds exactly one transposed convolution to G and one strided block to D (4x4 features last)."""
    config = dict(CLASSIC, architecture=architecture, width=0.125, latent_dim=8, image_size=image_size,
                  conditional=True, class_names=["a", "b", "c"])
    generator, discriminator = build_models(config)
    small_generator, small_discriminator = build_models(dict(config, image_size=32))
    images = generator.predict([np.zeros((2, 8), "float32"), np.array([0, 2], "int32")], verbose=0)
    assert images.shape == (2, image_size, image_size, 3)
    assert discriminator.predict([images, np.array([0, 2], "int32")], verbose=0).shape == (2, 1)
    doublings = {64: 1, 128: 2}[image_size]

    def count(model, kind):
        return sum(type(layer).__name__ == kind for layer in model.layers)

    assert count(generator, "Conv2DTranspose") == count(small_generator, "Conv2DTranspose") + doublings
    assert count(discriminator, "Conv2D") == count(small_discriminator, "Conv2D") + doublings * (
        1 if architecture == "classic" else 2)
    flatten = next(layer for layer in discriminator.layers if type(layer).__name__ == "Flatten")
    assert flatten.input.shape[1:3] == (4, 4)
    # The class tables have one row per class of the run: three here, not CIFAR-10's ten.
    embeddings = [layer for layer in discriminator.layers if type(layer).__name__ == "Embedding"]
    assert [layer.input_dim for layer in embeddings] == [3]
