"""Scores of a class-conditional generator: per-class KID and class agreement.

The scores over all classes (evaluate.py) cannot tell a generator that draws
good cats when asked for ships from one that draws ships. For a conditional
run (train.py --conditional) evaluate.py adds two scores that can:
  * per-class KID: for each class y, the KID between the features of images
    drawn for y and those of real training images of class y. The mean over
    classes, and the worst class by name, show which classes lag.
  * class agreement: the fraction of generated images that a CIFAR-10
    classifier (evaluate.py --classifier FILE.keras, made by
    benchmarks/train_classifier.py) assigns to the class asked for. Chance is
    1 in the number of classes; the ceiling is the same classifier's accuracy
    on real test images, printed beside it.
Images of a run at --image-size 64 or 128 are shrunk (antialiased) to the classifier's 32x32 for class
agreement, and compared with real images upscaled to their size for the per-class KID.
"""
import os

import numpy as np

from defDATA import CLASS_NAMES, load_cifar10, load_data, scale_images
from scoring.scores import kernel_inception_distance


def per_class_kid(generated_features, generated_classes, real_features, real_classes, classes):
    """{class number: KID mean} between each class's generated and real features."""
    return {int(c): kernel_inception_distance(generated_features[generated_classes == c],
                                              real_features[real_classes == c])[0] for c in classes}


def class_agreement(probabilities, classes_asked_for):
    """The fraction of images whose most probable class is the class asked for."""
    return float(np.mean(np.argmax(probabilities, axis=1) == np.asarray(classes_asked_for)))


def check_classifier_file(path):
    """Refuse a --classifier that cannot be a Keras model file, before TensorFlow loads."""
    from scoring.features import check_file_kind

    if os.path.isfile(path) and not path.endswith(".keras"):
        raise ValueError(f"--classifier {path}: not a .keras file (make one with benchmarks/train_classifier.py)")
    check_file_kind("--classifier", path, (".keras",))  # no such file, not a regular file, a damaged archive


def load_classifier(path):
    """A .keras classifier: [N, 32, 32, 3] in [-1, 1] -> [N, 10] class probabilities (bigger images are
    shrunk to its size, class_scores). Raises ValueError."""
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
        shapes = tuple(model.input_shape[1:]), tuple(model.output_shape[1:])  # a model never built has none
    except Exception as error:
        raise ValueError(f"--classifier {path}: unreadable ({type(error).__name__})") from None
    if shapes[0] != (32, 32, 3) or shapes[1][-1:] != (len(CLASS_NAMES),):
        raise ValueError(f"--classifier {path}: takes {shapes[0]} and gives {shapes[1]}, "
                         f"not 32x32x3 images -> {len(CLASS_NAMES)} class probabilities")
    return model


def real_images_of_classes(data, split, classes, per_class, seed=0, image_size=32):
    """(images, classes): `per_class` random images of each class of a split (of CIFAR-10 or a folder)."""
    images, labels = load_data(data, split=split, classes=classes, image_size=image_size)
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes])
    return images[np.sort(keep)], labels[np.sort(keep)]


def in_batches(function, inputs, batch_size):
    return np.concatenate([function(inputs[start:start + batch_size]) for start in range(0, len(inputs), batch_size)])


def unscored_reason(real_count, generated_count, data):
    """Why a class gets no KID (an unbiased KID compares pairs within each set: two images of each), or None."""
    if real_count == 0:
        return f"no real training images in {data or 'the official archive'}"
    if real_count < 2:
        return f"only one real training image in {data or 'the official archive'}"
    if generated_count < 2:
        return "fewer than two generated images (raise --n)"
    return None


def class_scores(generated, generated_classes, generated_features, network, data, classes, batch_size,
                 classifier=None, names=CLASS_NAMES):
    """The conditional scores of generated images (in [-1, 1]) drawn for `generated_classes`, with
    their features from `network`: a dict for eval.json. `classes`: the classes the run trained on.
    A class with too few real or generated images is named in "classes_not_scored" and left out (never NaN).
    `names`: the run's class names (defDATA.class_names). Real images are loaded at the generated ones' size."""
    real, real_classes = real_images_of_classes(data, "train", classes, per_class=len(generated) // len(classes),
                                                image_size=generated.shape[1])
    reasons = {c: unscored_reason(np.sum(real_classes == c), np.sum(generated_classes == c), data) for c in classes}
    for c, reason in reasons.items():
        if reason:
            print(f"note: {names[c]}: {reason}; it has no per-class KID")
    scored = [c for c in classes if reasons[c] is None]
    kids = {}
    if scored:
        real_features = in_batches(lambda images: network(scale_images(images))[0], real, batch_size)
        kids = per_class_kid(generated_features, generated_classes, real_features, real_classes, scored)
    entry = {"class_kid": {names[c]: round(value, 6) for c, value in kids.items()},
             "class_kid_mean": round(float(np.mean(list(kids.values()))), 6) if kids else None,
             "worst_class": names[max(kids, key=kids.get)] if kids else None,
             "classes_not_scored": [names[c] for c in classes if reasons[c]],
             "class_agreement": None, "classifier_test_accuracy": None}
    if classifier is not None:
        from scoring.features import resize

        def predict(images):  # images of another size (--image-size 64, 128) resized to the classifier's
            size = classifier.input_shape[1]
            return np.asarray(classifier.predict_on_batch(images if images.shape[1] == size else resize(images, size)))

        entry["class_agreement"] = round(class_agreement(in_batches(predict, generated, batch_size),
                                                         generated_classes), 4)
        test, test_classes = load_cifar10(data, split="test", classes=classes)
        if len(test):
            entry["classifier_test_accuracy"] = round(class_agreement(
                in_batches(predict, scale_images(test), batch_size), test_classes), 4)
        else:
            print(f"note: no real test images of these classes in {data or 'the official archive'}, "
                  "so no test accuracy for the classifier")
    return entry


def report_classes(entry, beside):
    """Print the conditional scores of an eval.json entry."""
    if entry["class_kid"]:
        print(f"per-class KID: mean {entry['class_kid_mean']:.5f}, worst {entry['worst_class']} "
              f"{entry['class_kid'][entry['worst_class']]:.5f} {beside}")
    if entry["class_agreement"] is not None:
        classes = len(entry["class_kid"]) + len(entry.get("classes_not_scored", []))
        ceiling = entry["classifier_test_accuracy"]
        print(f"class agreement {100 * entry['class_agreement']:.1f}% (the classifier on real test images: "
              f"{'unknown' if ceiling is None else f'{100 * ceiling:.1f}%'}; chance {100 / classes:.0f}%)")
