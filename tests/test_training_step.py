"""train.py's step is the objective its docstring writes, checked against an independent version.

The reference below is the two objectives written out with a GradientTape:
  D minimizes  -[log D(x) + log(1 - D(G(z)))]   on one batch of real and one of generated images,
  G minimizes  -log D(G(z))                      with D's weights held fixed,
each followed by an Adam update. A change to train.py's step (the labels, the
freezing, which images D sees, the loss, the noise drawn) changes the weights
it produces and fails this test; no stored numbers are involved.
"""
import numpy as np

from conftest import TINY

EPSILON = 1e-7  # Keras clips probabilities to [1e-7, 1 - 1e-7] before the log


def binary_cross_entropy(targets, probabilities):
    import tensorflow as tf

    p = tf.clip_by_value(probabilities, EPSILON, 1 - EPSILON)
    return -tf.reduce_mean(targets * tf.math.log(p) + (1 - targets) * tf.math.log(1 - p))


def reference_step(config, generator_weights, discriminator_weights, real, rng):
    """One GAN iteration from the formulas, on fresh copies of the networks: their weights after it."""
    import keras
    import tensorflow as tf

    from defGAN import build_models

    generator, discriminator = build_models(config)
    generator.set_weights(generator_weights)
    discriminator.set_weights(discriminator_weights)
    adam_d = keras.optimizers.Adam(config["lr_d"], beta_1=config["beta1"], beta_2=config["beta2"])
    adam_g = keras.optimizers.Adam(config["lr_g"], beta_1=config["beta1"], beta_2=config["beta2"])
    half = len(real)
    noise = rng.standard_normal((half, config["latent_dim"]), dtype=np.float32)
    fakes = generator(noise, training=True)
    with tf.GradientTape() as tape:  # 1. D: real images are 1, generated ones 0
        scores = discriminator(tf.concat([real, fakes], 0), training=True)
        targets = tf.concat([tf.ones((half, 1)), tf.zeros((half, 1))], 0)
        loss = binary_cross_entropy(targets, scores)
    adam_d.apply_gradients(zip(tape.gradient(loss, discriminator.trainable_variables),
                               discriminator.trainable_variables))
    noise = rng.standard_normal((config["batch_size"], config["latent_dim"]), dtype=np.float32)
    with tf.GradientTape() as tape:  # 2. G: its images labelled 1; only G's weights are updated
        loss = binary_cross_entropy(tf.ones((len(noise), 1)), discriminator(generator(noise, training=True),
                                                                            training=True))
    adam_g.apply_gradients(zip(tape.gradient(loss, generator.trainable_variables), generator.trainable_variables))
    return generator.get_weights(), discriminator.get_weights()


def test_one_training_step_is_the_written_objective(real_archive, tmp_path):
    import train
    from defDATA import load_cifar10, scale_images
    from machinery import runs, session

    args = train.parse_args(["--data", real_archive, "--out", str(tmp_path / "run"), *TINY, "--precision", "float32",
                             "--dropout", "0", "--ema", "0", "--seed", "4"])
    plan = runs.check_run(args, train.run_config(args))
    devices = session.prepare_devices(args)
    session.prepare_run(plan, args, *devices)
    run = train.build_networks(plan.config, *devices)
    before = run.generator.get_weights(), run.discriminator.get_weights()
    real = scale_images(load_cifar10(real_archive)[0][:8])
    train.train_step(run, real, step=0)
    # train.py draws step N's noise from the generator seeded by (seed, N): D's noise first, then G's.
    expected_g, expected_d = reference_step(run.config, *before, real, np.random.default_rng([4, 0]))
    for name, got, expected in (("generator", run.generator.get_weights(), expected_g),
                                ("discriminator", run.discriminator.get_weights(), expected_d)):
        for index, (a, b) in enumerate(zip(got, expected)):
            np.testing.assert_allclose(a, b, atol=2e-6, err_msg=f"{name} weight {index}")
    assert any(not np.array_equal(a, b) for a, b in zip(before[0], run.generator.get_weights()))
