"""Reading the files a user hands the project, safely: CIFAR-10's archive and its pickled batches,
a folder of the user's own pictures (listed, decoded, cached), and downloads checked against their
published hashes. A first reading can skip this package.

defDATA.py reads CIFAR-10 and image folders through it, and scoring/ fetches its feature networks with it. It
imports nothing else of the project, so the GAN modules can use it without depending on the run
machinery (machinery/, which imports the GAN modules, never the other way round).
"""
