"""The memorisation check: is the generator copying its training images?

A GAN that reproduced its training images would score well and teach
nothing. The standard check (`python samples.py RUN_DIR --nearest`) puts each
generated image beside the training images closest to it: near-copies show up
at once as twins. "Closest" is measured in the feature network's space when
`--features` is given (what the scores compare: the same object in another
pose or colour is near), else in pixel space (exact copies, shifted colours
excluded). Training images are searched at the run's size (upscaled as train.py upscaled them).
"""
import numpy as np

from defDATA import CLASS_NAMES, DataError, load_data, scale_images
from scoring.features import FEATURE_BATCH
from scoring.scores import nearest_neighbours


def features_of(images, network, batch_size=FEATURE_BATCH):
    """[N, d] features of images, floats in [-1, 1] or uint8 pixels (scaled one batch at a time): the network's,
    or without one the pixel values in [0, 255] themselves (of uint8 pixels, a view: 50,000 128x128 images
    would take 10 GB as floats; nearest_neighbours converts a block at a time)."""
    if network is None:
        if images.dtype == np.uint8:
            return images.reshape(len(images), -1)
        return ((np.asarray(images, np.float32) + 1.0) * 127.5).reshape(len(images), -1)  # as unscaled, unrounded
    parts = (images[start:start + batch_size] for start in range(0, len(images), batch_size))
    return np.concatenate([network(scale_images(part) if part.dtype == np.uint8 else part)[0] for part in parts])


def training_images_to_search(data, classes, features, neighbours, image_size):
    """The training images (uint8, image_size x image_size) of the run's classes, checked before TensorFlow
    loads. Raises ValueError."""
    from scoring.features import check_feature_spec

    if neighbours < 1:
        raise ValueError(f"--cols {neighbours + 1}: --nearest needs 2 or more (a generated image, then neighbours)")
    if features:
        check_feature_spec(features)
    try:
        return load_data(data, classes=classes, image_size=image_size)[0]
    except DataError as error:
        raise ValueError(str(error)) from None


def nearest_training_grid(generated, training_images, features, neighbours):
    """(rows of [a generated image, its `neighbours` nearest training images], the space searched).
    `features`: a feature network spec (scoring/features.py), or None for pixel space. Raises ValueError."""
    from scoring.features import load_feature_network

    network = load_feature_network(features) if features else None
    nearest = nearest_neighbours(features_of(generated, network), features_of(training_images, network), neighbours)
    rows = [np.concatenate([image[None], scale_images(training_images[indices])])
            for image, indices in zip(generated, nearest)]
    return np.concatenate(rows), f"{network.name} features" if network else "pixels"


def write_nearest_grid(args, generator, classes, training, out, names=CLASS_NAMES):
    """samples.py --nearest: each row a generated image (classes in turn when conditional), then its nearest
    training images, written to `out`. `names`: the run's class names. Raises ValueError (a bad feature network)."""
    from machinery.output_files import write_new_file
    from machinery.progress import save_grid
    from defGAN import sample_noise
    from samples import DEFAULT_ROWS, draw

    rows = args.rows or DEFAULT_ROWS
    noise = sample_noise(np.random.default_rng(args.seed), rows, generator.inputs[0].shape[1])
    image_classes = None if classes is None else np.resize(np.asarray(classes, np.int32), rows)
    grid, space = nearest_training_grid(draw(generator, noise, image_classes), training, args.features, args.cols - 1)
    row_names = None if classes is None else [names[c] for c in image_classes]
    write_new_file("--out", out, lambda temporary: save_grid(grid, temporary, args.cols, row_names), args.force)
    print(f"wrote {out}: {rows} generated images, each followed by its {args.cols - 1} nearest of "
          f"{len(training)} training images ({space})")
