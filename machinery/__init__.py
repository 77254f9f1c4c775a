"""Machinery that is not about GANs: a first reading can skip this package.

The GAN lives in the top-level files (README, "Read in this order"). This
package holds what any long-running training script needs: downloads, run
folders and their options, crash-safe checkpoint files, devices and
tf.distribute, and the progress files. The top-level files call it in one
line where they need it; nothing in here teaches GANs.
"""
