"""Feature networks for evaluate.py: images in [-1, 1] -> (features, class probabilities or None).

Four kinds, chosen with `--features`:
  * `inception` (the default), or a path to its `.pt` file: the papers' FID
    network, TensorFlow's Inception graph of 2015-12-05, rebuilt in Keras
    (scoring/fid_inception.py; where its weights come from: scoring/fid_weights.py).
    Its 2,048 pool features give the FID every CIFAR-10 paper reports.
  * `keras-inception`: keras.applications' InceptionV3 with ImageNet weights
    (downloaded once into ~/.keras/models; `--inception-weights FILE` uses a
    local copy). A different network, so its Fréchet distance is *not* FID;
    kept for its 1000-class softmax, which the Inception Score needs.
  * a `.keras` model file: called on images resized to its input size, in
    [-1, 1]. One output = features; a second output = class probabilities.
  * a `.tflite` model: the same, with quantized inputs and outputs converted
    through the model's own (scale, zero point). TensorFlow Lite does not
    check a file, and a damaged one crashes the whole process, so each file is
    first tried in a child process (trial_tflite). With
    `../shared/models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite`
    this gives "FD-MobileNet", which works fully offline.

Every network has a `name` (printed beside each score) and an `identity`
(part of the reference-statistics cache key).
"""
import hashlib
import json
import os
import subprocess
import sys
import warnings

import numpy as np

from datafiles.downloads import DownloadError, download
from scoring.fid_weights import FIDInceptionFeatures, source_file


DEFAULT_FEATURES = "inception"
FEATURE_BATCH = 32  # images per forward pass of a feature network: the FID network's fastest on 2 CPU cores (docs/results.md)
FEATURE_CHOICES = ("'inception' (the papers' FID network, downloaded once; offline: its .pt file), "
                   "'keras-inception' (keras.applications' InceptionV3: not FID, but has the Inception Score), "
                   "or a .keras / .tflite feature network file")


def file_identity(path):
    with open(path, "rb") as file_object:
        return os.path.basename(path) + ":" + hashlib.sha256(file_object.read()).hexdigest()[:16]


def resize(images, size):
    """Bilinear resizing of [B, H, W, 3] images to a network's size x size: upsampling (CIFAR-10's 32x32 to
    MobileNet's 224x224), or antialiased downsampling when the images are larger than the network's input."""
    import tensorflow as tf
    return tf.image.resize(images, (size, size), method="bilinear", antialias=images.shape[1] > size).numpy()


class KerasFeatures:
    """A Keras model with one (features) or two (features, probabilities) outputs."""

    def __init__(self, model, name, identity, preprocess=None):
        self.model, self.name, self.identity = model, name, identity
        shape, outputs = model.input_shape, model.output_shape
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3 or not shape[1]:
            raise ValueError(f"it takes inputs of shape {shape[1:]}, not square RGB images")
        self.size = shape[1]
        features = outputs[0] if isinstance(outputs, list) else outputs  # (features, probabilities), or features
        self.feature_size = int(np.prod(features[1:]))
        self.preprocess = preprocess or (lambda images: images)

    def __call__(self, images):
        outputs = self.model.predict_on_batch(self.preprocess(resize(images, self.size)))
        if isinstance(outputs, (list, tuple)):
            return np.asarray(outputs[0]).reshape(len(images), -1), np.asarray(outputs[1])
        return np.asarray(outputs).reshape(len(images), -1), None


def tflite_interpreter(content, threads=2):
    """A TensorFlow Lite interpreter of a model's bytes (LiteRT's when installed, else TensorFlow's)."""
    try:  # TensorFlow points tf.lite users to the LiteRT package; use it when installed
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite's deprecation notice concerns future versions
        return Interpreter(model_content=content, num_threads=threads)


# The trial run of a .tflite file, in a child process. TensorFlow Lite's
# interpreter trusts the file it is given: a truncated or damaged one makes it
# read or write out of bounds and kill the whole process (exit 139, a
# segfault), which no `try` can catch. So a child Python loads the bytes and
# runs two images through them first; only if it survives does the parent load
# the very same bytes. The child prints the input size and the feature count.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where the child finds scoring/
TRIAL = """
import json, sys, numpy as np
from scoring.features import tflite_interpreter
interpreter = tflite_interpreter(sys.stdin.buffer.read(), threads=1)
shape = [int(n) for n in interpreter.get_input_details()[0]["shape"]]
if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
    sys.exit(f"it takes inputs of shape {shape}, not square RGB images")
tensor = interpreter.get_input_details()[0]
interpreter.resize_tensor_input(tensor["index"], [2, shape[1], shape[1], 3])
interpreter.allocate_tensors()
interpreter.set_tensor(tensor["index"], np.zeros([2, shape[1], shape[1], 3], tensor["dtype"]))
interpreter.invoke()
features = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
print(json.dumps({"size": shape[1], "features": int(np.prod(features.shape[1:]))}))
"""
TRIAL_SECONDS = 300  # TensorFlow takes seconds to load, a minute or more on a busy machine


def trial_tflite(flag, path, content):
    """Run `content`, a .tflite model's bytes, in a child process; returns {size, features}. Raises ValueError."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")  # the child's start-up lines are not the user's
    try:
        child = subprocess.run([sys.executable, "-c", TRIAL], input=content, capture_output=True,
                               timeout=TRIAL_SECONDS, env=environment, cwd=PROJECT_ROOT)
    except subprocess.TimeoutExpired:
        raise ValueError(f"{flag} {path}: TensorFlow Lite did not load it within {TRIAL_SECONDS} s") from None
    if child.returncode < 0:
        raise ValueError(f"{flag} {path}: not a usable TensorFlow Lite model (it crashed the interpreter, "
                         f"signal {-child.returncode}: damaged?)")
    if child.returncode != 0:
        last = (child.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1][:200]
        raise ValueError(f"{flag} {path}: not a usable TensorFlow Lite model ({last})")
    return json.loads(child.stdout.decode().strip().splitlines()[-1])


class TFLiteFeatures:
    """A TensorFlow Lite model, quantized or not, run with its own interpreter."""

    def __init__(self, path, threads=2):
        content = read_model("--features", path)  # read once: the bytes tried are the bytes loaded
        self.feature_size = trial_tflite("--features", path, content)["features"]
        self.interpreter = tflite_interpreter(content, threads)
        self.input, self.output = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]
        self.size, self.batch = int(self.input["shape"][1]), None
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.identity = os.path.basename(path) + ":" + hashlib.sha256(content).hexdigest()[:16]

    def __call__(self, images):
        if self.batch != len(images):  # (re)allocate for this batch size
            self.interpreter.resize_tensor_input(self.input["index"], [len(images), self.size, self.size, 3])
            self.interpreter.allocate_tensors()
            self.batch = len(images)
        values = resize(images, self.size)
        scale, zero_point = self.input["quantization"]
        if scale:  # a quantized input: real value = (q - zero_point) * scale
            limits = np.iinfo(self.input["dtype"])
            values = np.clip(np.round(values / scale + zero_point), limits.min, limits.max)
        self.interpreter.set_tensor(self.input["index"], values.astype(self.input["dtype"]))
        self.interpreter.invoke()
        features = self.interpreter.get_tensor(self.output["index"]).astype(np.float32)
        scale, zero_point = self.output["quantization"]
        if scale:
            features = (features - zero_point) * scale
        return features.reshape(len(images), -1), None


# Keras' ImageNet weights for InceptionV3, and the MD5 keras.applications checks them with.
INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                 "inception_v3_weights_tf_dim_ordering_tf_kernels.h5")
INCEPTION_MD5 = "9a0d58056eeedaa3f26cb7ebd46da564"


def inception_weights_file(inception_weights=None):
    """--inception-weights, or Keras' ImageNet weights downloaded once into its cache (~/.keras/models)."""
    if inception_weights:
        return inception_weights
    path = os.path.join(os.path.expanduser("~"), ".keras", "models", os.path.basename(INCEPTION_URL))
    try:
        return download(INCEPTION_URL, path, "md5", INCEPTION_MD5, "InceptionV3's ImageNet weights (92 MB)")
    except DownloadError as error:
        raise ValueError(f"--features keras-inception: {error}; offline, pass --inception-weights FILE, "
                         "or a .tflite/.keras feature network") from None


def inception_features(weights_file):
    """Keras' InceptionV3 giving (2048-d pool features, 1000-class softmax); weights_file None = random weights."""
    import keras
    from machinery.weight_loading import all_weights_or_nothing

    with all_weights_or_nothing():  # an .h5 of another network: one line, not Keras' warning per layer
        base = keras.applications.InceptionV3(include_top=True, weights=weights_file)
    model = keras.Model(base.input, [base.get_layer("avg_pool").output, base.output])
    # The model expects pixels in [-1, 1], which is our images' range already:
    # inception_v3.preprocess_input maps [0, 255] to [-1, 1].
    identity = "inceptionv3:" + (file_identity(weights_file) if weights_file else "random")
    return KerasFeatures(model, "InceptionV3 (keras.applications)", identity)


# How each kind of file starts, so that a wrong or damaged file is refused before TensorFlow loads.
FILE_SIGNATURES = {".h5": (0, b"\x89HDF\r\n\x1a\n"), ".keras": (0, b"PK\x03\x04"), ".tflite": (4, b"TFL3")}
FEATURE_FILES = (".keras", ".tflite")  # what --features accepts besides the names below; .h5 holds weights only
INCEPTION_FEATURES = 2048  # InceptionV3's pool features


def check_file_kind(flag, path, kinds):
    """Refuse a path that is not a regular file of one of `kinds`, as its name says and its first bytes
    confirm; raises ValueError."""
    kind = next((suffix for suffix in kinds if path.endswith(suffix)), None)
    if not os.path.exists(path):
        raise ValueError(f"{flag} {path}: no such file")
    if not os.path.isfile(path):  # a folder, a FIFO (reading one could wait for ever), a device
        raise ValueError(f"{flag} {path}: not a regular file")
    if kind is None:
        expected = ("'inception', 'keras-inception', a .pt, .keras or .tflite file" if flag == "--features"
                    else "an .h5 weights file")
        raise ValueError(f"{flag} {path}: unknown kind (expected {expected})")
    offset, signature = FILE_SIGNATURES[kind]
    try:
        with open(path, "rb") as file_object:
            start = file_object.read(offset + len(signature))
    except OSError as error:
        raise ValueError(f"{flag} {path}: unreadable ({error.strerror})") from None
    if start[offset:] != signature or kind == ".keras" and not is_keras_archive(path):
        raise ValueError(f"{flag} {path}: not a {kind} file (damaged, or named wrongly)")


def is_keras_archive(path):
    """A .keras file is a zip archive holding the model's config.json (JSON) and its model.weights.h5."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {"config.json", "model.weights.h5"} <= names or archive.getinfo("config.json").file_size > 2**24:
                return False  # (a config of more than 16 MB would be a zip bomb, not a network's description)
            return isinstance(json.loads(archive.read("config.json")), dict)
    except Exception:  # a damaged archive raises zipfile's, zlib's or json's errors, or OSError: not a .keras file
        return False


def read_model(flag, path):
    """A model file's bytes; raises ValueError."""
    try:
        with open(path, "rb") as file_object:
            return file_object.read()
    except OSError as error:
        raise ValueError(f"{flag} {path}: unreadable ({error.strerror})") from None


def check_feature_spec(spec, inception_weights=None):
    """Refuse a --features (or --inception-weights) that names no usable network, before TensorFlow loads;
    a .tflite file is tried in a child process (trial_tflite). Returns the number of features the
    network gives, or None for a .keras file (known once it is loaded). Raises ValueError."""
    if spec == "keras-inception":
        check_file_kind("--inception-weights", inception_weights_file(inception_weights), (".h5",))
        return INCEPTION_FEATURES
    if inception_weights:
        raise ValueError(f"--inception-weights {inception_weights}: only with --features keras-inception")
    if spec == "inception" or spec.endswith(".pt"):
        source_file(spec)  # found (downloaded once) and its weights checked, or ValueError
        return INCEPTION_FEATURES
    check_file_kind("--features", spec, FEATURE_FILES)
    if spec.endswith(".tflite"):
        return trial_tflite("--features", spec, read_model("--features", spec))["features"]
    return None


def load_feature_network(spec, inception_weights=None):
    """`inception` or its .pt, `keras-inception`, a .keras or a .tflite file -> a feature network. Raises ValueError."""
    if spec == "inception" or spec.endswith(".pt"):
        try:
            return FIDInceptionFeatures(spec)
        except OSError as error:  # the converted weights could not be cached
            raise ValueError(f"--features {spec}: could not cache the converted network ({error})") from None
    if spec == "keras-inception":
        check_feature_spec(spec, inception_weights)
        weights_file = inception_weights_file(inception_weights)
        try:
            return inception_features(weights_file)
        except Exception as error:  # an HDF5 file that holds other weights ...
            first_line = (str(error).strip().splitlines() or [""])[0][:150]
            raise ValueError(f"--inception-weights {weights_file}: {type(error).__name__}: {first_line}") from None
    check_file_kind("--features", spec, FEATURE_FILES)
    if spec.endswith(".tflite"):
        return TFLiteFeatures(spec)  # tried in a child process first
    try:
        import keras
        model = keras.models.load_model(spec, compile=False)
        return KerasFeatures(model, os.path.splitext(os.path.basename(spec))[0], file_identity(spec))
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0][:150]
        raise ValueError(f"--features {spec}: unreadable ({type(error).__name__}: {first_line})") from None
