"""How good is a generator? The scores evaluate.py reports, and what they are computed from.

  scores.py        the formulas (Fréchet distance, KID, Inception Score, precision/recall), numpy only
  features.py      the feature networks they are computed on; --features picks one
  fid_inception.py the papers' FID network (Inception 2015-12-05), rebuilt in Keras
  fid_weights.py   its weights, read from NVIDIA's TorchScript file and cached (torchscript_weights.py)
  class_scores.py  a conditional run's scores: per-class KID and class agreement
  statistics.py    images streamed through a feature network into those statistics; the in-training scorer
  nearest.py       the memorisation check: generated images beside their nearest training images
"""
