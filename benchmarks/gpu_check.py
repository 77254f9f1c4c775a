"""Train every preset a few steps on a GPU and time the default: the GPU check.

The lent GPU machines hold JAX with CUDA but not TensorFlow, and TensorFlow's
GPU build (about 2 GB with its CUDA libraries) cannot be carried there. So
this check runs the project's own networks and train.py's own step (train_step,
with gene_keras.py, discri_keras.py, defGAN.py, losses.py, augment.py: plain
Keras 3) on Keras' JAX backend, which compiles every step with XLA. The rest
of train.py needs TensorFlow (tf.data, checkpoints) and is not run here.

For each preset and precision policy it trains a few alternating steps on
random images in [-1, 1] (speed does not depend on content), checks the losses
are finite, and prints one line: images/s or what broke. The default preset is
timed over more steps. `--deterministic` asks XLA for deterministic GPU ops and
checks that two runs from one seed end with identical weights.

    KERAS_BACKEND=jax python benchmarks/gpu_check.py --steps 30
    KERAS_BACKEND=jax python benchmarks/gpu_check.py --deterministic
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from machinery.options import ArgumentParser  # noqa: E402  one line for a mistake, numbers read strictly


def parse_args():
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per preset and precision (default: 30)")
    p.add_argument("--default-steps", type=int, default=300, help="timed steps of the default preset (default: 300)")
    p.add_argument("--presets", default=None, help="comma-separated presets to train (default: every preset)")
    p.add_argument("--deterministic", action="store_true",
                   help="ask XLA for deterministic GPU ops and compare two same-seed runs (default: off)")
    return p.parse_args()


def one_run(preset, policy, steps, seed=0):
    """Build a preset's networks under `policy`, train `steps` steps after 3
    untimed ones; return (iterations per second, the final weights)."""
    import keras
    import numpy as np

    import defGAN
    from defDATA import real_images_per_step
    from ema import GeneratorEMA
    from presets import preset_options
    from train import Models, train_step

    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(seed)
    config = preset_options(preset)
    generator, discriminator = defGAN.build_models(config)
    gan = defGAN.define_gan(generator, discriminator, config, jit_compile=True)
    ema = GeneratorEMA(generator, config["ema"]) if config["ema"] else None

    def generate(noise, classes=None):  # train.py's make_generate is a tf.function; on JAX, a plain call
        return generator(noise if classes is None else [noise, classes], training=True)

    models = Models(generator, discriminator, gan, ema, generate, config)
    rng = np.random.default_rng(seed)

    def step(number):
        # train.py's own step, on random images in [-1, 1] (a conditional preset: uniform classes).
        real = rng.uniform(-1, 1, (real_images_per_step(config), 32, 32, 3)).astype("float32")
        batch = (real, rng.integers(0, 10, len(real)).astype("int32")) if config["conditional"] else real
        stats = train_step(models, batch, number)
        if not all(np.isfinite(list(stats.values()))):
            raise FloatingPointError(f"loss not finite: {stats}")

    for number in range(3):  # compiles each step function
        step(number)
    start = time.perf_counter()
    for number in range(3, 3 + steps):
        step(number)
    rate = steps / (time.perf_counter() - start)
    return rate, [w.copy() for w in gan.get_weights()], config["batch_size"]


def main():
    args = parse_args()
    if args.deterministic:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()
    import keras

    from presets import DEFAULT_PRESET, PRESETS

    print(f"Keras {keras.__version__}, backend {keras.config.backend()}", flush=True)
    if keras.config.backend() == "jax":
        import jax
        print(f"devices: {jax.devices()}", flush=True)
    if args.deterministic:
        first, second = (one_run(DEFAULT_PRESET, "float32", 10)[1] for _ in range(2))
        same = all((a == b).all() for a, b in zip(first, second))
        print(f"deterministic ops, {DEFAULT_PRESET}, float32, 13 steps twice from seed 0: "
              f"weights {'bit-identical' if same else 'DIFFERENT'}", flush=True)
        return
    for preset in args.presets.split(",") if args.presets else PRESETS:
        for policy in ("float32", "mixed_float16", "mixed_bfloat16"):
            steps = args.default_steps if preset == DEFAULT_PRESET and policy == "float32" else args.steps
            try:
                rate, _, batch = one_run(preset, policy, steps)
                print(f"{preset:21s} {policy:15s} {steps:4d} steps: {rate:8.1f} it/s, {rate * batch:9.0f} images/s",
                      flush=True)
            except Exception as error:  # a check records what breaks and goes on
                print(f"{preset:21s} {policy:15s} BREAKS: {type(error).__name__}: {str(error).splitlines()[0][:200]}",
                      flush=True)


if __name__ == "__main__":
    main()
