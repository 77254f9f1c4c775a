"""Streaming images through a feature network into the statistics every score needs (evaluate.py), and
the in-training scorer of train.py --eval-every (TrainingEvaluator).

Real images' statistics are computed once per (data, split, feature network, N, image size) and cached
(machinery/reference_cache.py); at a run's --image-size 64 or 128 the real images are upscaled to it first
(defDATA.resize_images), as train.py trained on them; generated images are drawn in batches from a fixed seed, so two
evaluations of one generator see the same images.
"""
import os

import numpy as np

from defDATA import DataError, data_version, load_data, scale_images
from machinery.reference_cache import load_reference, reference_path, save_reference
from samples import draw
from scoring.features import FEATURE_BATCH, load_feature_network
from scoring.scores import FeatureStatistics, frechet_distance

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "keras-gan-cifar10")


class EvalError(Exception):
    """A problem we can describe to the user in one line."""


# ---------------------------------------------------------------------------
# Streaming images through a feature network.
# ---------------------------------------------------------------------------
def feature_statistics(batches, network, total, seed=0, full_rank=True, kept=None, label=None):
    """FeatureStatistics of an iterable of [B, size, size, 3] batches in [-1, 1] (any size the network resizes).

    A d-dimensional covariance needs more than d samples to be full rank; with
    fewer, the Fréchet distance is still defined but mostly measures the lack
    of samples, so scoring refuses it (full_rank=False allows it, for tests).
    `kept`, a list, receives every batch's features (for the per-class scores).
    With a `label`, a progress bar shows the images done (the FID network takes minutes per thousand on a CPU).
    """
    import keras

    stats = FeatureStatistics(total, seed)
    bar = keras.utils.Progbar(total, unit_name="image") if label else None
    if label:
        print(f"{label}, through {network.name}:", flush=True)
    for batch in batches:
        features, probabilities = network(batch)
        if bar:
            bar.add(len(features))
        if not np.isfinite(features).all():  # the formulas would fail, or give NaN for eval.json
            raise EvalError(f"{network.name} features not finite (NaN or infinite): NaN images from diverged weights?")
        stats.add(features, probabilities)
        if kept is not None:
            kept.append(features)
    if full_rank and stats.count <= len(stats.mean):
        raise EvalError(f"{stats.count} images are too few for a full-rank {len(stats.mean)}-d covariance: "
                        f"use at least {len(stats.mean) + 1} (--n, or --eval-samples in train.py)")
    return stats


def check_enough(count, feature_size, flag="--n"):
    """Refuse, before any work, a count of images that cannot fill a feature_size-d covariance (see above)."""
    if count <= feature_size:
        raise EvalError(f"{flag} {count}: {count} images are too few for a full-rank {feature_size}-d covariance: "
                        f"use at least {feature_size + 1}")


def real_batches(images, batch_size):
    for start in range(0, len(images), batch_size):
        yield scale_images(images[start:start + batch_size])


def generated_batches(generator, total, batch_size, seed, classes=None):
    """Batches (images, their classes or None) of generated images; a conditional
    generator draws `classes` uniformly, each as often as the others."""
    from defGAN import sample_noise

    rng, latent_dim = np.random.default_rng(seed), generator.inputs[0].shape[1]
    if classes is not None:  # each class as often as the others (up to one image), in random order
        class_of_image = rng.permutation(np.resize(np.asarray(classes, np.int32), total))
    for start in range(0, total, batch_size):
        noise = sample_noise(rng, min(batch_size, total - start), latent_dim)
        batch_classes = None if classes is None else class_of_image[start:start + batch_size]
        yield draw(generator, noise, batch_classes, batch_size), batch_classes


def pick_real(data, split, n, seed, image_size):
    """n real images of a split (a seeded random subset when there are more), at image_size x image_size."""
    try:
        images, _ = load_data(data, split=split, image_size=image_size)
    except DataError as error:
        raise EvalError(str(error)) from None
    if n < len(images):
        images = images[np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))]
    return images


def real_statistics(network, data, split, n, batch_size, cache_dir, image_size):
    """Statistics of n real images of one split, at image_size x image_size: "train" (the reference every
    score is measured against) or "test" (the floor, with --real-test; an image folder has only "train").
    Computed once and cached in cache_dir (None: not cached; machinery/reference_cache.py says how a damaged
    cache is handled)."""
    try:  # an image folder's content and size are part of the key: a changed folder gets new statistics
        identity = "|".join(filter(None, [network.identity, data_version(data, image_size)]))
    except DataError as error:
        raise EvalError(str(error)) from None
    path = reference_path(cache_dir, data, split, identity, n, image_size) if cache_dir else None
    reference = load_reference(path, network.feature_size) if path else None
    if reference is None:
        images = pick_real(data, split, n, 0 if split == "train" else 1, image_size)
        stats = feature_statistics(real_batches(images, batch_size), network, len(images),
                                   label=f"{len(images)} real {split} images")
        reference = statistics_table(stats)
        if path:
            save_reference(path, reference)
    return reference


def statistics_table(stats):
    """What a score needs of one set of images, as the reference cache keeps it (with the Inception Score
    when the network gives class probabilities)."""
    table = {"mean": stats.mean, "covariance": stats.covariance, "kid_features": stats.kid_features(),
             "count": np.array(stats.count)}
    if stats.has_probabilities:
        table["inception_score"] = np.array(stats.is_sums.score())
    return table


class TrainingEvaluator:
    """Scores a generator during training: Fréchet distance of `samples` generated
    images against as many training images at the run's size (reference statistics cached)."""

    def __init__(self, features, samples, data, image_size, classes=None, batch_size=FEATURE_BATCH,
                 cache_dir=DEFAULT_CACHE):
        try:
            self.network = load_feature_network(features)
        except ValueError as error:
            raise EvalError(str(error)) from None
        check_enough(samples, self.network.feature_size, flag="--eval-samples")
        self.samples, self.classes, self.batch_size = samples, classes, batch_size
        self.reference = real_statistics(self.network, data, "train", samples, batch_size, cache_dir, image_size)
        self.description = f"{self.network.name}, {samples} generated vs {int(self.reference['count'])} train images"

    def __call__(self, generator, seed):
        # The same noise every time, so scores of different epochs compare fairly.
        batches = generated_batches(generator, self.samples, self.batch_size, seed, self.classes)
        stats = feature_statistics((images for images, _ in batches), self.network, self.samples)
        return frechet_distance(stats.mean, stats.covariance, self.reference["mean"], self.reference["covariance"])
