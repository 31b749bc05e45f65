"""Pairwise distance matrices for metric-learning losses (TensorFlow).

Names, aliases and constants come from `facenet_tf.distances` (the one table); this module
holds the TensorFlow implementations the losses differentiate through. They follow the
conventions of the TF Addons metric-learning losses (``pairwise_distance`` and
``angular_distance``, on the rows as given) so that our triplet losses reproduce their
values:

* ``squared_l2``: ``|x_i|^2 + |x_j|^2 - 2 <x_i, x_j>``, clamped at 0.
* ``euclidean`` (``l2``): the square root of the above. Zero entries stay exactly 0 and
  get a zero gradient (the square root of 0 has an infinite derivative; we never
  evaluate it).
* ``cosine`` (``angular``): ``1 - cos(x_i, x_j)`` on L2-normalised rows, clamped at 0.
  The diagonal is exactly 0, zero rows included (as in TF Addons).

Distances that are zero in exact arithmetic come out exactly zero: the Gram expansion
leaves bitwise-equal rows at rounding level (about 1e-7 in float32, different for each
matmul kernel, e.g. with oneDNN on or off), which the square root of ``euclidean`` would
amplify to about 3e-4, so pairs of equal rows are set to 0 (for ``cosine``: equal rows
that normalise to unit length).
"""

from __future__ import annotations

import tensorflow as tf

from facenet_tf.distances import L2_NORMALIZE_EPSILON, canonical_distance

# Fixed seed of the row-fingerprint weights (any value works; fixed for reproducibility).
_FINGERPRINT_SEED = (20150312, 1242)


# A graph: about 30 small integer ops, dispatched once rather than one by one.
@tf.function(reduce_retracing=True)
def _equal_rows(embeddings: tf.Tensor) -> tf.Tensor:
    """[B, B] bool: True for every pair of bitwise-equal rows, the diagonal included.

    Each row gets two integer fingerprints: sums of its 16-bit half-words times fixed
    pseudo-random 15-bit weights, in int64. Integer sums are exact, so equal rows get
    equal fingerprints whatever the reduction order (unlike any float reduction), and
    memory stays O(B^2 + B D). Two different rows share both fingerprints only if two
    independent random weighted sums of their differences vanish (odds of about 2^-60
    for non-adversarial data).
    """
    x = embeddings if embeddings.dtype == tf.float64 else tf.cast(embeddings, tf.float32)
    words = tf.reshape(tf.bitcast(x, tf.int32), [tf.shape(x)[0], -1])
    halves = tf.concat(
        [
            tf.bitwise.bitwise_and(words, 0xFFFF),
            tf.bitwise.bitwise_and(tf.bitwise.right_shift(words, 16), 0xFFFF),
        ],
        axis=1,
    )
    weights = tf.random.stateless_uniform(
        [tf.shape(halves)[1], 2],
        seed=_FINGERPRINT_SEED,
        minval=1,
        maxval=1 << 15,
        dtype=tf.int64,
    )
    # Products < 2^31, so int64 sums are exact for any D below 2^31.
    prints = tf.reduce_sum(tf.cast(halves, tf.int64)[:, :, None] * weights[None], axis=1)
    groups = _group_ids(prints)
    return tf.equal(groups[:, None], groups[None, :])


def _group_ids(prints: tf.Tensor) -> tf.Tensor:
    """int32 [B]: equal for rows of [B, 2] `prints` that are equal, distinct otherwise.

    A lexicographic sort of the B fingerprint pairs and a running count of changes: O(B
    log B), so that the [B, B] mask costs one comparison rather than one per fingerprint
    (and it compiles with XLA, unlike ``tf.unique``).
    """
    order = tf.argsort(prints[:, 1], stable=True)
    order = tf.gather(order, tf.argsort(tf.gather(prints[:, 0], order), stable=True))
    ordered = tf.gather(prints, order)
    changed = tf.reduce_any(tf.not_equal(ordered[1:], ordered[:-1]), axis=1)
    first = tf.ones_like(ordered[:1, 0], dtype=tf.bool)  # [1], or [0] for an empty batch
    ids = tf.cumsum(tf.cast(tf.concat([first, changed], 0), tf.int32))
    return tf.gather(ids, tf.math.invert_permutation(order))


def _zero_diagonal(matrix: tf.Tensor) -> tf.Tensor:
    return tf.linalg.set_diag(matrix, tf.zeros_like(matrix[:, 0]))


def squared_l2_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """Pairwise squared Euclidean distances.

    Args:
        embeddings: float [B, D].

    Returns:
        [B, B] of the dtype of `embeddings`, >= 0; exactly 0 for equal rows (and so on
        the diagonal).
    """
    equal = _equal_rows(embeddings)

    @tf.custom_gradient
    def distances_of(x):
        squared_norms = tf.reduce_sum(tf.square(x), axis=1)
        gram = tf.matmul(x, x, transpose_b=True)
        # Expanding |a - b|^2 keeps memory at O(B^2); it can go slightly negative by
        # rounding, and leaves equal rows at rounding level rather than at 0.
        distances = squared_norms[:, None] + squared_norms[None, :] - 2.0 * gram
        zero = tf.logical_or(distances < 0.0, equal)  # NaN stays NaN, as with tf.maximum
        distances = tf.where(zero, tf.constant(0.0, x.dtype), distances)

        def grad(upstream):
            # d/dx_i of sum_ij g_ij (|x_i|^2 + |x_j|^2 - 2 <x_i, x_j>), written out so that
            # the backward pass costs one [B, B] mask, two row sums and two matmuls.
            g = tf.where(zero, tf.constant(0.0, x.dtype), upstream)
            weight = tf.reduce_sum(g, axis=1) + tf.reduce_sum(g, axis=0)
            mixed = tf.matmul(g, x) + tf.matmul(g, x, transpose_a=True)
            return 2.0 * (weight[:, None] * x - mixed)

        return distances, grad

    return distances_of(embeddings)


def l2_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """Pairwise Euclidean distances with finite gradients at zero distance.

    Args:
        embeddings: float [B, D].

    Returns:
        [B, B] of the dtype of `embeddings`, >= 0; exactly 0 for equal rows.
    """
    squared = squared_l2_distances(embeddings)
    is_zero = squared <= 0.0
    # Double `where`: the sqrt never sees 0, so its gradient is finite everywhere, and the
    # outer `where` routes a zero gradient to zero distances.
    safe = tf.where(is_zero, tf.ones_like(squared), squared)
    return tf.where(is_zero, tf.zeros_like(squared), tf.sqrt(safe))


def angular_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """Pairwise ``1 - cosine similarity``.

    Args:
        embeddings: float [B, D]; need not be normalised (rows are normalised here).

    Returns:
        [B, B] of the dtype of `embeddings`, in [0, 2]; exactly 0 on the diagonal and for
        equal rows of squared norm >= ``L2_NORMALIZE_EPSILON``.
    """
    squared_norms = tf.reduce_sum(tf.square(embeddings), axis=1, keepdims=True)
    # The floor keeps zero rows at zero, so they give all-ones distances as in TF Addons.
    unit = embeddings * tf.math.rsqrt(tf.maximum(squared_norms, L2_NORMALIZE_EPSILON))
    distances = tf.maximum(1.0 - tf.matmul(unit, unit, transpose_b=True), 0.0)
    full = squared_norms[:, 0] >= L2_NORMALIZE_EPSILON  # normalise to unit length
    zero = _equal_rows(embeddings) & full[:, None] & full[None, :]
    return _zero_diagonal(tf.where(zero, tf.zeros_like(distances), distances))


_FUNCTIONS = {
    "squared_l2": squared_l2_distances,
    "euclidean": l2_distances,
    "cosine": angular_distances,
}


def pairwise_distances(embeddings: tf.Tensor, distance: str = "squared_l2") -> tf.Tensor:
    """Pairwise distance matrix.

    Args:
        embeddings: float [B, D].
        distance: a name accepted by `facenet_tf.distances.canonical_distance`.

    Returns:
        [B, B] of the dtype of `embeddings`.
    """
    return _FUNCTIONS[canonical_distance(distance)](embeddings)
