"""Machinery that is not about GANs: a first reading can skip this package.

The GAN lives in the top-level files (README, "Read in this order"). This
package holds what any long-running training script needs: run folders and
the checks of their options, crash-safe checkpoint files, the callbacks that
serve train.py's loop (callbacks.py), devices and tf.distribute, and the
progress files. It imports the GAN modules; they never import it
(tests/test_one_way.py), so the arrows run one way.
"""
