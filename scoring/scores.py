"""The scores behind evaluate.py, in plain numpy: Fréchet distance, KID, Inception Score,
precision, recall, density and coverage.

Each takes image *features* (or class probabilities) that evaluate.py gets
from a feature network (scoring/features.py); nothing here knows about images or
TensorFlow, so every formula can be tested against a closed form.
"""
import numpy as np

KID_KEEP = 5000  # features kept per set for KID; subsets are drawn from these
IS_SPLITS = 10  # the Inception Score is reported as mean and std over 10 splits, as in its paper
NEIGHBOURS = 3  # k of the k-nearest-neighbour balls of precision, recall, density and coverage, as in both papers
BLOCK = 1000  # rows of a distance matrix computed at once: memory stays ~BLOCK x N, whatever N


class FeatureStatistics:
    """Streaming mean and covariance (float64), a bounded KID subset, Inception Score sums."""

    def __init__(self, total, seed=0):
        self.count, self.sum, self.outer = 0, None, None
        rng = np.random.default_rng(seed)
        self.keep = set(rng.choice(total, size=min(total, KID_KEEP), replace=False).tolist())
        self.kept, self.is_sums, self.has_probabilities = [], InceptionScoreSums(total), False

    def add(self, features, probabilities=None):
        features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        if self.sum is None:
            self.sum, self.outer = np.zeros(features.shape[1]), np.zeros((features.shape[1],) * 2)
        self.sum += features.sum(axis=0)
        self.outer += features.T @ features
        chosen = [i for i in range(len(features)) if self.count + i in self.keep]
        self.kept.append(features[chosen].astype(np.float32))
        self.count += len(features)
        if probabilities is not None:
            self.is_sums.add(probabilities)
            self.has_probabilities = True

    @property
    def mean(self):
        return self.sum / self.count

    @property
    def covariance(self):
        mean = self.mean
        return (self.outer - self.count * np.outer(mean, mean)) / (self.count - 1)

    def kid_features(self):
        return np.concatenate(self.kept)


def symmetric_sqrt(matrix):
    """Square root of a symmetric positive semi-definite matrix via its eigenvectors."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mean1, cov1, mean2, cov2):
    """||m1 - m2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^1/2).

    tr((C1 C2)^1/2) equals tr((S C2 S)^1/2) with S = C1^1/2, and S C2 S is
    symmetric, so an eigen-decomposition gives it without the complex
    round-off that a general matrix square root (scipy.linalg.sqrtm) produces.
    """
    root1 = symmetric_sqrt(cov1)
    middle_eigenvalues = np.linalg.eigvalsh(root1 @ cov2 @ root1)
    trace_sqrt = np.sqrt(np.clip(middle_eigenvalues, 0, None)).sum()
    distance = np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * trace_sqrt
    return float(max(distance, 0.0))


def kernel_inception_distance(x, y, subsets=100, subset_size=1000, seed=0):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, over random subsets: (mean, std)."""
    rng, dim = np.random.default_rng(seed), x.shape[1]
    size = min(subset_size, len(x), len(y))
    if size == len(x) == len(y):  # every subset would be both whole sets: one gives the same answer
        subsets = 1
    values = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), size, replace=False)].astype(np.float64)
        b = y[rng.choice(len(y), size, replace=False)].astype(np.float64)
        k_aa, k_bb, k_ab = ((a @ a.T) / dim + 1) ** 3, ((b @ b.T) / dim + 1) ** 3, ((a @ b.T) / dim + 1) ** 3
        within = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (size * (size - 1))
        values.append(within - 2 * k_ab.mean())
    return float(np.mean(values)), float(np.std(values))


class InceptionScoreSums:
    """Per-split running sums for the Inception Score, so no probabilities are kept.

    Per split, IS = exp(mean over x of KL(p(y|x) || p(y))), and that mean KL is
    mean(sum_y p log p) - sum_y p(y) log p(y), with p(y) the split's mean
    prediction: two running sums per split are all it needs.
    """

    def __init__(self, total, splits=IS_SPLITS):
        base, extra = divmod(total, splits)  # the same splits as np.array_split
        self.ends = np.cumsum([base + 1] * extra + [base] * (splits - extra))
        self.count, self.plogp_sum, self.p_sum, self.seen = np.zeros(splits), np.zeros(splits), None, 0

    def add(self, probabilities):
        p = np.asarray(probabilities, dtype=np.float64)
        split = np.searchsorted(self.ends, self.seen + np.arange(len(p)), side="right")
        if self.p_sum is None:
            self.p_sum = np.zeros((len(self.ends), p.shape[1]))
        np.add.at(self.p_sum, split, p)
        np.add.at(self.plogp_sum, split, np.sum(p * np.log(p + 1e-12), axis=1))
        np.add.at(self.count, split, 1)
        self.seen += len(p)

    def score(self):
        """(mean, std) over the splits. 1 = useless, K = ideal for K classes."""
        marginal = self.p_sum / self.count[:, None]
        kl = self.plogp_sum / self.count - np.sum(marginal * np.log(marginal + 1e-12), axis=1)
        scores = np.exp(kl)
        return float(scores.mean()), float(scores.std())



# ---------------------------------------------------------------------------
# Precision, recall, density and coverage (Kynkäänniemi et al. 2019; Naeem et
# al. 2020). One Fréchet distance cannot tell blurry-but-varied from
# sharp-but-collapsed; these four can. Around every feature vector of a set
# lies a ball reaching to its k-th nearest neighbour in the same set; the
# union of the balls stands for the set's "manifold".
#   precision  the fraction of generated points inside the real manifold: are the images realistic?
#   recall     the fraction of real points inside the generated manifold: is the variety there?
#   density    how many real balls hold each generated point, over k: like precision, but ~1 for
#              two samples of one distribution and not fooled by a few real outliers with large balls;
#   coverage   the fraction of real points whose own ball holds a generated point: like recall,
#              but robust to generated outliers.
# ---------------------------------------------------------------------------
def pairwise_distances(a, b):
    """Euclidean distances [len(a), len(b)] between two sets of feature vectors, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    squared = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def neighbour_radii(features, k=NEIGHBOURS, block=BLOCK):
    """Each point's distance to its k-th nearest *other* point of the same set (blocked)."""
    radii = np.empty(len(features))
    for start in range(0, len(features), block):
        distances = pairwise_distances(features[start:start + block], features)
        radii[start:start + block] = np.partition(distances, k, axis=1)[:, k]  # column 0: the point itself
    return radii


def precision_recall_density_coverage(real, generated, k=NEIGHBOURS, block=BLOCK):
    """The four manifold scores of `generated` feature vectors against `real` ones: a dict."""
    real_radii, generated_radii = neighbour_radii(real, k, block), neighbour_radii(generated, k, block)
    inside_real = np.zeros(len(generated))  # how many real balls hold each generated point
    real_recalled = np.zeros(len(real), bool)  # real points inside some generated ball
    nearest_generated = np.full(len(real), np.inf)  # each real point's nearest generated point
    for start in range(0, len(generated), block):
        distances = pairwise_distances(generated[start:start + block], real)  # [block, len(real)]
        inside_real[start:start + block] = np.sum(distances <= real_radii[None, :], axis=1)
        real_recalled |= np.any(distances <= generated_radii[start:start + block, None], axis=0)
        nearest_generated = np.minimum(nearest_generated, distances.min(axis=0))
    return {"precision": float(np.mean(inside_real > 0)), "recall": float(np.mean(real_recalled)),
            "density": float(np.mean(inside_real) / k), "coverage": float(np.mean(nearest_generated <= real_radii))}


def nearest_neighbours(queries, references, count, block=None):
    """Indices [len(queries), count] of each query's `count` nearest references, nearest first.
    The references are searched in blocks (by default of ~2**25 numbers: 10,000 32x32 images, 682 at
    128x128), each converted to float64 only then, so 50,000 training images of any size fit in memory."""
    block = block or max(1, min(BLOCK * 10, 2**25 // max(1, np.prod(references.shape[1:], dtype=int))))
    best_distances = np.full((len(queries), 0), np.inf)
    best_indices = np.zeros((len(queries), 0), int)
    for start in range(0, len(references), block):
        distances = pairwise_distances(queries, references[start:start + block])
        indices = np.broadcast_to(np.arange(start, start + distances.shape[1]), distances.shape)
        # Keep the `count` nearest among those found so far and this block's.
        distances = np.concatenate([best_distances, distances], axis=1)
        indices = np.concatenate([best_indices, indices], axis=1)
        order = np.argsort(distances, axis=1, kind="stable")[:, :count]
        best_distances, best_indices = (np.take_along_axis(values, order, axis=1) for values in (distances, indices))
    return best_indices
