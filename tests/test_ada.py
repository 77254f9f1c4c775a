"""Adaptive discriminator augmentation (--augment ada, augment.py): the transforms at p = 0 and 1, gradients
to the generator, the controller's direction and bounds, r_t for every loss, and a real run on 64 images
whose p rises, is saved in checkpoints and resumes bit for bit."""
import csv
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import augment
from augment import LAYER_NAME, AdaptiveAugmentation, DiffAugment, overfitting_signal
from conftest import TINY, run_script, weights_of, write_archive
from defDATA import load_cifar10
from defGAN import build_models, define_gan
from losses import LOSSES, DECISION_THRESHOLD, discriminator_metrics
from presets import CLASSIC

IMAGES = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype(np.float32)


def ada_discriminator():
    """The smallest model with an ADA layer: what AdaptiveAugmentation looks for."""
    images = keras.Input((32, 32, 3))
    return keras.Model(images, DiffAugment("ada", seed=0, name=LAYER_NAME)(images))


def test_p_zero_changes_nothing_and_p_one_changes_every_image():
    layer = DiffAugment("ada", seed=0)
    assert float(layer.probability.numpy()) == 0.0 and not layer.trainable_weights  # p starts at 0, D never trains it
    assert np.array_equal(np.array(layer(IMAGES, training=True)), IMAGES)
    layer.probability.assign(1.0)
    assert np.array_equal(np.array(layer(IMAGES, training=False)), IMAGES)  # never outside training
    augmented = np.array(layer(IMAGES, training=True))
    assert all(not np.allclose(before, after) for before, after in zip(IMAGES, augmented))
    # The new transforms are what they say: each image mirrored or not, turned by a multiple of 90 degrees.
    flipped = np.array(layer.flip(tf.constant(IMAGES), 1.0))
    assert all(np.array_equal(a, b) or np.array_equal(a[:, ::-1], b) for a, b in zip(IMAGES, flipped))
    turned = np.array(layer.rotate90(tf.constant(IMAGES), 1.0))
    turns = [[k for k in range(4) if np.array_equal(np.rot90(a, k), b)] for a, b in zip(IMAGES, turned)]
    assert all(turns) and len({k[0] for k in turns}) > 1


def test_gradients_reach_the_generator_through_ada():
    config = dict(CLASSIC, latent_dim=8, width=0.125, augment="ada")
    generator, discriminator = build_models(config)
    gan = define_gan(generator, discriminator, config)
    discriminator.get_layer(LAYER_NAME).probability.assign(1.0)  # every transform acting on every image
    noise = tf.constant(np.random.default_rng(3).standard_normal((4, 8)).astype(np.float32))
    discriminator.trainable = False
    with tf.GradientTape() as tape:
        tape.watch(noise)
        loss = keras.ops.mean(gan(noise, training=True))
    by_noise, *by_weights = tape.gradient(loss, [noise] + generator.trainable_variables)
    assert np.all(np.isfinite(by_noise)) and float(tf.reduce_max(tf.abs(by_noise))) > 0
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in by_weights)


def run_controller(controller, start, d_acc_real, steps):
    """p after each of `steps` steps in which D called a fraction `d_acc_real` of the real images real."""
    return [controller.update(step, d_acc_real) for step in range(start, start + steps)]


def test_p_rises_while_d_is_sure_of_the_reals_and_falls_back_when_it_is_not():
    controller = AdaptiveAugmentation(ada_discriminator(), real_images_per_step=32)
    rising = run_controller(controller, 0, 1.0, 40)  # D calls every real image real: r_t = 1 > 0.6
    assert rising[-1] > 0 and all(b >= a for a, b in zip(rising, rising[1:]))
    assert rising[:3] == [0.0] * 3  # p moves only at the end of each interval of 4 steps
    falling = run_controller(controller, 40, 0.6, 100)  # D unsure (r_t = 0.2 < 0.6): p falls to 0, no lower
    assert falling[0] <= rising[-1] and all(b <= a for a, b in zip(falling, falling[1:])) and falling[-1] == 0.0


def test_p_stays_within_zero_and_one(monkeypatch):
    monkeypatch.setattr(augment, "ADA_SPEED_IMAGES", 100)  # a big step, so that the bounds are reached at once
    controller = AdaptiveAugmentation(ada_discriminator(), real_images_per_step=32)
    assert max(run_controller(controller, 0, 1.0, 12)) == 1.0
    assert min(run_controller(controller, 12, 0.0, 12)) == 0.0


@pytest.mark.parametrize("loss", LOSSES)
def test_r_t_is_the_mean_sign_of_d_on_real_images_for_every_loss(loss):
    """r_t = E[sign(D(x))] with D's raw verdict: the logit for bce (whose D outputs sigmoid(logit)), the score
    against lsgan's midpoint 0.5, the signed score for hinge and wasserstein."""
    raw = np.array([[-2.0], [-0.3], [0.1], [0.7], [1.5], [3.0], [-1.0], [0.2]], np.float32)
    scores = 1 / (1 + np.exp(-raw)) if loss == "bce" else raw + DECISION_THRESHOLD[loss]
    acc_real = discriminator_metrics(loss)[2]  # the metric d_acc_real comes from
    d_acc_real = float(acc_real(np.ones_like(raw), scores))
    assert overfitting_signal(d_acc_real) == pytest.approx(np.mean(np.sign(raw)))


def test_p_has_its_own_tensorboard_tag():
    from machinery.callbacks import tensorboard_tags
    assert tensorboard_tags({"augment_p": 0.25, "d_acc_real": 0.5}) == {"augmentation/p": 0.25,
                                                                         "accuracy/d_acc_real": 0.5}


def test_a_bad_augment_value_is_one_line():
    for value, words in (("ada,color", "ada stands alone"), ("adaa", "unknown augmentation adaa")):
        result = run_script("train.py", "--augment", value, "--dry-run")
        assert result.returncode != 0 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def small_set(real_archive, tmp_path_factory):
    """A CIFAR-10 archive of 64 real training images: a set D can memorise."""
    images, classes = load_cifar10(real_archive)
    batches = {"data_batch_1": (images[:64], classes[:64]), "test_batch": (images[64:80], classes[64:80])}
    return write_archive(tmp_path_factory.mktemp("small") / "cifar-10-python.tar.gz", batches)


# 6 steps an epoch: the first epoch's checkpoint falls in the middle of ADA's interval of 4 steps.
RUN = [*TINY, "--augment", "ada", "--steps-per-epoch", "6", "--lr-d", "1e-3"]


def train(data, run_dir, *extra):
    result = run_script("train.py", "--data", data, "--out", run_dir, *RUN, *extra)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def checkpoint_weights(run_dir):
    return weights_of(sorted(glob.glob(os.path.join(run_dir, "checkpoints", "step-*")))[-1] + "/state.weights.h5")


def ada_weights(weights):
    """p and the running sum of r_t, as the checkpoint holds them."""
    found = [value for name, value in sorted(weights.items()) if LAYER_NAME in name]
    assert len(found) == 2
    return found


def metric_rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as file_object:
        rows = list(csv.DictReader(file_object))
    return [{k: v for k, v in row.items() if k not in ("seconds", "it_per_s")} for row in rows]  # timings differ


def test_p_rises_on_64_images_is_saved_and_resumes_exactly(small_set, tmp_path):
    straight, interrupted = str(tmp_path / "straight"), str(tmp_path / "interrupted")
    output = train(small_set, straight, "--epochs", "4").stdout
    assert "augment_p" in output  # the progress bar shows p
    rows = metric_rows(straight)
    assert float(rows[-1]["augment_p"]) > 0  # D soon tells 64 memorised images from a fresh G's: p rises
    probability, _ = ada_weights(checkpoint_weights(straight))
    assert probability > 0
    train(small_set, interrupted, "--epochs", "1")  # stops at step 6, with 2 of the interval's 4 r_t summed
    result = run_script("train.py", "--resume", interrupted, "--epochs", "4", "--data", small_set)
    assert result.returncode == 0, result.stderr[-2000:]
    a, b = checkpoint_weights(straight), checkpoint_weights(interrupted)
    assert a.keys() == b.keys() and all(np.array_equal(a[name], b[name]) for name in a)
    assert metric_rows(interrupted) == rows
