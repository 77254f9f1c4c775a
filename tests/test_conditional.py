"""The class-conditional GAN (--conditional): shapes, the projection discriminator,
freezing with class embeddings, per-class sampling, and exact resume."""
import json
import os

import matplotlib.image
import numpy as np
import pytest

from conftest import TINY, run_script, weights_of
from defGAN import build_models, define_gan
from train import train_discriminator_step, train_generator_step
from presets import CLASSIC

CONDITIONAL = dict(CLASSIC, latent_dim=8, width=0.125, conditional=True)


def snapshot(model):
    return [weight.copy() for weight in model.get_weights()]


def changed(before, model):
    return [index for index, (old, new) in enumerate(zip(before, model.get_weights())) if not np.array_equal(old, new)]


def embeddings(model):
    """Every class-embedding table of a network (the concatenated one, CBN's gains and biases, D's projection)."""
    return [variable for variable in model.trainable_variables if "embeddings" in variable.path]


@pytest.mark.parametrize("batch_norm", [False, True], ids=["concatenated", "conditional-batch-norm"])
def test_conditional_networks_take_a_class_and_keep_the_image_range(batch_norm):
    generator, discriminator = build_models(dict(CONDITIONAL, batch_norm=batch_norm))
    assert [tuple(t.shape) for t in generator.inputs] == [(None, 8), (None,)]
    assert [tuple(t.shape) for t in discriminator.inputs] == [(None, 32, 32, 3), (None,)]
    assert len(embeddings(generator)) == (8 if batch_norm else 1)  # a gain and a bias for each of 4 batch norms
    assert len(embeddings(discriminator)) == 1
    rng = np.random.default_rng(0)
    noise, classes = rng.standard_normal((10, 8)).astype(np.float32), np.arange(10, dtype=np.int32)
    images = np.asarray(generator([noise, classes], training=True))
    assert images.shape == (10, 32, 32, 3) and images.min() >= -1 and images.max() <= 1
    scores = np.asarray(discriminator([images, classes]))
    assert scores.shape == (10, 1) and ((scores > 0) & (scores < 1)).all()  # bce: a probability


def test_the_class_changes_the_image_at_the_same_noise():
    generator, _ = build_models(dict(CONDITIONAL, batch_norm=True))
    for variable in embeddings(generator):  # trained gains and biases differ per class; at first they are 1 and 0
        variable.assign(np.random.default_rng(1).normal(1.0, 0.5, variable.shape))
    noise = np.repeat(np.random.default_rng(0).standard_normal((1, 8)).astype(np.float32), 2, axis=0)
    cat, ship = np.asarray(generator([noise, np.array([3, 8], np.int32)], training=False))
    same = np.asarray(generator([noise, np.array([3, 3], np.int32)], training=False))
    assert np.abs(cat - ship).mean() > 1e-3 and np.array_equal(same[0], same[1])


def test_projection_score_equals_the_formula_by_hand():
    """score(x, y) = psi(phi(x)) + <embed(y), phi(x)>, then the loss's activation (sigmoid for bce)."""
    import keras

    _, discriminator = build_models(dict(CONDITIONAL, dropout=0.0))
    flatten = next(layer for layer in discriminator.layers if isinstance(layer, keras.layers.Flatten))
    features = keras.Model(discriminator.inputs[0], flatten.output)  # phi(x)
    psi = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Dense)][-1]
    table = embeddings(discriminator)[0].numpy()
    rng = np.random.default_rng(2)
    images, classes = rng.uniform(-1, 1, (5, 32, 32, 3)).astype(np.float32), np.array([0, 3, 3, 7, 9], np.int32)
    phi = np.asarray(features(images), np.float64)
    kernel, bias = (np.asarray(w, np.float64) for w in psi.get_weights())
    raw = phi @ kernel[:, 0] + bias[0] + np.sum(table[classes] * phi, axis=1)
    expected = 1 / (1 + np.exp(-raw))
    np.testing.assert_allclose(np.asarray(discriminator([images, classes]))[:, 0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options", [{}, {"batch_norm": True}, {"spectral_norm": True, "loss": "hinge"}],
                         ids=["concatenated", "conditional-batch-norm", "spectral-norm"])
def test_freezing_covers_the_class_embeddings(options):
    config = dict(CONDITIONAL, lr_d=1e-3, lr_g=1e-3, **options)
    generator, discriminator = build_models(config)
    gan = define_gan(generator, discriminator, config)
    rng = np.random.default_rng(0)
    d_tables, g_tables = embeddings(discriminator), embeddings(generator)
    for alternation in range(3):
        real, real_classes = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32), rng.integers(0, 10, 8)
        noise, fake_classes = rng.standard_normal((8, 8)).astype(np.float32), rng.integers(0, 10, 8)
        fakes = np.asarray(generator([noise, fake_classes.astype(np.int32)], training=True))
        d_before, g_before = snapshot(discriminator), snapshot(generator)
        d_tables_before = [t.numpy().copy() for t in d_tables]
        train_discriminator_step(discriminator, real, fakes, real_classes=real_classes.astype(np.int32),
                                 fake_classes=fake_classes.astype(np.int32))
        assert changed(d_before, discriminator) and not changed(g_before, generator), alternation
        assert all(not np.array_equal(old, t.numpy()) for old, t in zip(d_tables_before, d_tables))

        d_before, g_before = snapshot(discriminator), snapshot(generator)
        g_tables_before = [t.numpy().copy() for t in g_tables]
        train_generator_step(gan, discriminator, noise, fake_classes.astype(np.int32))
        assert changed(g_before, generator) and not changed(d_before, discriminator), alternation
        assert all(not np.array_equal(old, t.numpy()) for old, t in zip(g_tables_before, g_tables))


@pytest.fixture(scope="module")
def conditional_run(real_archive, tmp_path_factory):
    """A tiny conditional run on two classes (2 epochs of 3 steps)."""
    run_dir = str(tmp_path_factory.mktemp("conditional") / "run")
    result = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "2", "--steps-per-epoch",
                        "3", "--conditional", "--classes", "cat,ship", "--batch-norm", *TINY)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return run_dir


def test_progress_grid_has_one_row_per_trained_class(conditional_run):
    with open(os.path.join(conditional_run, "config.json")) as file_object:
        config = json.load(file_object)
    assert config["conditional"] is True and config["classes"] == [3, 8]
    grid = matplotlib.image.imread(os.path.join(conditional_run, "progress", "epoch_0002.png"))
    assert grid.shape[0] == 2 * 34 + 2  # two rows of 32 pixels, 2 of padding


def sample(run_dir, out, *extra):
    result = run_script("samples.py", run_dir, "--out", str(out), "--cols", "4", *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    return matplotlib.image.imread(str(out))[..., :3]


def test_samples_draws_the_classes_asked_for(conditional_run, tmp_path):
    first = sample(conditional_run, tmp_path / "a.png", "--class", "ship", "--seed", "5")
    again = sample(conditional_run, tmp_path / "b.png", "--class", "8", "--seed", "5")
    cat = sample(conditional_run, tmp_path / "c.png", "--class", "cat", "--seed", "5")
    assert np.array_equal(first, again)  # names and numbers mean the same class; the same seed, the same images
    assert not np.array_equal(first, cat)  # the same noise, another class: other images
    both = sample(conditional_run, tmp_path / "d.png", "--class", "cat", "--class", "ship", "--seed", "5")
    assert both.shape[0] == 2 * 34 + 2  # one row per class
    rows = sample(conditional_run, tmp_path / "e.png", "--class", "ship", "--rows", "3")
    assert rows.shape[0] == 3 * 34 + 2


def test_class_errors_are_one_line(conditional_run, trained_run, tmp_path):
    unconditional, _ = trained_run
    for run_dir, flags, message in ((conditional_run, ["--class", "unicorn"], "unknown class 'unicorn'"),
                                    (unconditional, ["--class", "ship"], "is not conditional")):
        result = run_script("samples.py", run_dir, "--out", str(tmp_path / "x.png"), *flags)
        assert result.returncode != 0 and message in result.stderr
        assert len((result.stdout + result.stderr).strip().splitlines()) == 1
        assert not os.path.exists(tmp_path / "x.png")


def test_a_run_from_before_conditioning_still_loads(trained_run, tmp_path):
    """config.json files written before --conditional existed have no such key: they are unconditional."""
    import shutil

    run_dir = str(tmp_path / "old")
    shutil.copytree(trained_run[0], run_dir)
    config_path = os.path.join(run_dir, "config.json")
    with open(config_path) as file_object:
        config = json.load(file_object)
    del config["conditional"]
    with open(config_path, "w") as file_object:
        json.dump(config, file_object)
    assert sample(run_dir, tmp_path / "old.png").shape[0] == 8 * 34 + 2


def test_conditional_resume_equals_an_uninterrupted_run(real_archive, tmp_path):
    flags = ["--data", real_archive, *TINY, "--steps-per-epoch", "3", "--conditional", "--ema", "0.9"]
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    for run_dir, epochs in ((straight, "2"), (resumed, "1")):
        assert run_script("train.py", "--out", run_dir, "--epochs", epochs, *flags).returncode == 0
    result = run_script("train.py", "--resume", resumed, "--epochs", "2", "--data", real_archive)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("generator.weights.h5", "discriminator.weights.h5", "generator.ema.weights.h5"):
        a, b = weights_of(os.path.join(straight, name)), weights_of(os.path.join(resumed, name))
        assert a.keys() == b.keys() and all(np.array_equal(a[key], b[key]) for key in a), name


def test_evaluation_draws_every_class_equally():
    from scoring.statistics import generated_batches

    class RecordingGenerator:
        """Stands in for a conditional generator: records the classes it is asked for."""
        inputs = [np.zeros((1, 8))]  # only .shape[1], the latent size, is read
        seen = []

        def __call__(self, inputs, training):
            noise, classes = inputs
            self.seen.extend(classes.tolist())
            return np.zeros((len(noise), 32, 32, 3), np.float32)

    generator = RecordingGenerator()
    batches = list(generated_batches(generator, 30, 7, seed=0, classes=[2, 4, 6]))
    assert sum(len(images) for images, _ in batches) == 30
    assert sorted(generator.seen) == [2] * 10 + [4] * 10 + [6] * 10


def test_a_walk_between_two_classes_starts_and_ends_at_them():
    from samples import draw, walk_between_classes

    generator, _ = build_models(dict(CONDITIONAL, batch_norm=True))
    for variable in embeddings(generator):
        variable.assign(np.random.default_rng(3).normal(1.0, 0.5, variable.shape))
    noise = np.repeat(np.random.default_rng(0).standard_normal((1, 8)).astype(np.float32), 5, axis=0)
    cat, ship = draw(generator, noise[:2], np.array([3, 8], np.int32))
    walk_between_classes(generator, 3, 8, steps=5)
    walk = draw(generator, noise, np.arange(5, dtype=np.int32))
    np.testing.assert_allclose(walk[0], cat, atol=1e-6)
    np.testing.assert_allclose(walk[-1], ship, atol=1e-6)
    assert np.abs(walk[2] - cat).mean() > 1e-4 and np.abs(walk[2] - ship).mean() > 1e-4  # in between: neither


def test_samples_walks_between_two_classes(conditional_run, tmp_path):
    walk = sample(conditional_run, tmp_path / "walk.png", "--class", "ship,cat", "--interpolate")
    assert walk.shape[0] == 4 * 34 + 2  # four noise vectors, each walking from ship to cat
    result = run_script("samples.py", conditional_run, "--class", "ship,cat", "--interpolate", "--cols", "11")
    assert result.returncode != 0 and "takes 2 to 10 steps" in result.stderr
    result = run_script("samples.py", conditional_run, "--class", "dog")
    assert result.returncode != 0 and "--class dog: " in result.stderr and "trained on cat, ship only" in result.stderr


def test_collapse_is_looked_for_within_each_class():
    """A conditional G that ignores its noise draws one image per class: the grid varies across
    classes, so only the spread within each class's row shows the collapse."""
    from defGAN import WARN_AFTER_STEPS, training_warnings

    row = {"step": WARN_AFTER_STEPS, "d_acc_real": 0.7, "d_acc_fake": 0.7}
    one_image_per_class = np.repeat(np.random.default_rng(0).uniform(-1, 1, (2, 1, 32, 32, 3)), 8, axis=1)
    grid = one_image_per_class.reshape(16, 32, 32, 3)
    assert not training_warnings(row, grid)  # over the whole grid, the two classes differ
    assert "within one class's row" in training_warnings(row, grid, groups=2)[0]


def spectral_norm_wrappers(model):
    from discri_keras import FrozenAwareSpectralNormalization

    return [layer for layer in model.layers if isinstance(layer, FrozenAwareSpectralNormalization)]


@pytest.mark.parametrize("architecture", ["classic", "standard"])
def test_every_spectral_norm_layer_gets_a_gradient_and_keeps_float_outputs(architecture):
    """Keras' SpectralNormalization casts its output to its *input's* dtype: for the class
    Embedding that is int32, which truncates the class vectors and cuts their gradient.
    Every wrapped layer must hand on floats and receive a non-zero gradient."""
    import keras
    import tensorflow as tf

    config = dict(CONDITIONAL, architecture=architecture, spectral_norm=True, loss="hinge", dropout=0.0)
    _, discriminator = build_models(config)
    wrappers = spectral_norm_wrappers(discriminator)
    assert any(isinstance(layer.layer, keras.layers.Embedding) for layer in wrappers)
    rng = np.random.default_rng(4)
    images, classes = rng.uniform(-1, 1, (6, 32, 32, 3)).astype(np.float32), np.array([0, 1, 2, 0, 1, 2], np.int32)
    with tf.GradientTape() as tape:
        scores = discriminator([images, classes], training=True)
        loss = tf.reduce_mean(tf.square(scores))
    kernels = [layer.kernel for layer in wrappers]
    for layer, gradient in zip(wrappers, tape.gradient(loss, kernels)):
        assert gradient is not None and np.abs(np.asarray(tf.convert_to_tensor(gradient))).max() > 0, layer.layer.name
    table = next(layer for layer in wrappers if isinstance(layer.layer, keras.layers.Embedding))
    vectors = np.asarray(table(classes, training=False))
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, table.kernel.numpy()[classes], rtol=1e-6)  # not truncated to integers


def test_spectral_norm_class_table_learns_the_classes_in_the_batch():
    """A D step must move the rows of the classes it saw *differently* from the others. Spectral
    normalization alone rescales the whole table by one factor, which is not learning."""
    config = dict(CONDITIONAL, spectral_norm=True, loss="hinge", lr_d=1e-2)
    generator, discriminator = build_models(config)
    define_gan(generator, discriminator, config)
    table = next(layer for layer in spectral_norm_wrappers(discriminator) if "embedding" in layer.layer.name)
    rng = np.random.default_rng(5)
    seen = np.array([0, 1, 2] * 4, np.int32)
    real = rng.uniform(-1, 1, (12, 32, 32, 3)).astype(np.float32)
    fakes = rng.uniform(-1, 1, (12, 32, 32, 3)).astype(np.float32)
    train_discriminator_step(discriminator, real, fakes, real_classes=seen, fake_classes=seen)  # first normalization
    before = table.kernel.numpy().copy()
    train_discriminator_step(discriminator, real, fakes, real_classes=seen, fake_classes=seen)
    after = table.kernel.numpy()
    # Rows of classes never seen change only by the common rescaling factor ...
    factor = np.linalg.norm(after[3:]) / np.linalg.norm(before[3:])
    np.testing.assert_allclose(after[3:], before[3:] * factor, rtol=1e-4, atol=1e-7)
    # ... the rows of the classes in the batch by more than that: a gradient reached them.
    assert np.abs(after[:3] - before[:3] * factor).max() > 1e-4
