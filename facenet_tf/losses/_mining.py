"""Input checks and mining primitives shared by the triplet losses.

Memory stays O(B^2) however many triplets a batch holds (B = 1,800 has 5.8e9
anchor-positive-negative combinations), and no [B, B] sort is needed:

* each anchor's positives are listed in a [B, Kmax] table (Kmax = the largest identity's
  count minus one), built from the labels in O(B log B + B Kmax);
* per anchor, the Kmax positive distances (or hinge thresholds) are sorted, and every
  negative is placed in a gap between them by a binary search: O(B^2 log Kmax);
* one segment reduction per (anchor, gap) gives the nearest negative of the gap
  (semi-hard) or the count and sum of its negatives (batch-all); a scan over the
  Kmax + 1 gaps turns these into the answer for every positive.

That is O(B^2 log Kmax) time against O(B^2 log B) for sorting each anchor's negatives,
and exact for any labels (P x K or not). Mining only selects indices or counts, under
`stop_gradient`; gradients flow through gathers of the distance matrix (or a hand-written
gradient for batch-all). Each loss runs as one graph (`in_graph`); while tracing for XLA,
Kmax takes its static bound B - 1 so that no shape depends on the labels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

from facenet_tf.errors import InvalidInputError, InvalidInputTypeError
from facenet_tf.losses.distances import pairwise_distances


class Batch(NamedTuple):
    """A validated batch: distances, the negative mask and the positive table."""

    distances: tf.Tensor  # float32 [B, B] (float64 for float64 input)
    negative: tf.Tensor  # bool [B, B]: different label
    positives: tf.Tensor  # int32 [B, Kmax]: columns of the anchor's positives, padded
    valid: tf.Tensor  # bool [B, Kmax]: False on padding (which points at the anchor)
    num_negatives: tf.Tensor  # int32 [B]


def compute_dtype(dtype: tf.DType) -> tf.DType:
    """float32 for float16/bfloat16/float32 inputs; float64 stays float64."""
    return tf.float64 if dtype == tf.float64 else tf.float32


def _check_inputs(labels, embeddings) -> tuple[tf.Tensor, tf.Tensor]:
    embeddings = tf.convert_to_tensor(embeddings)
    if not embeddings.dtype.is_floating:
        raise InvalidInputTypeError(
            f"embeddings must be a float tensor [B, D]; got dtype {embeddings.dtype.name}"
        )
    if embeddings.shape.rank is not None and embeddings.shape.rank != 2:
        raise InvalidInputError(f"embeddings must have shape [B, D]; got {embeddings.shape}")
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank is not None:
        if labels.shape.rank == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]  # Keras hands y_true over as [B, 1] at times.
        elif labels.shape.rank != 1:
            raise InvalidInputError(f"labels must have shape [B] or [B, 1]; got {labels.shape}")
    else:
        labels = tf.reshape(labels, [-1])
    n_labels, n_embeddings = labels.shape[0], embeddings.shape[0]
    if n_labels is not None and n_embeddings is not None and n_labels != n_embeddings:
        raise InvalidInputError(
            f"labels has {n_labels} entries but embeddings has {n_embeddings} rows"
        )
    if n_labels is None or n_embeddings is None:
        check = tf.debugging.assert_equal(
            tf.size(labels),
            tf.shape(embeddings)[0],
            message="labels and embeddings must have the same batch size",
        )
        with tf.control_dependencies([check]):  # run the check before any mining op
            labels, embeddings = tf.identity(labels), tf.identity(embeddings)
    return labels, embeddings


def _compiling_with_xla() -> bool:
    """True while tracing for XLA (``jit_compile=True``, TPUs), where shapes must not
    depend on values."""
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # private module moved: assume the dynamic-shape path is fine
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def identity_table(
    labels: tf.Tensor, xla: bool, include_self: bool = False
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Identity ids and every anchor's positives, from the labels, in O(B log B + B Kmax).

    Members of each identity are listed in batch order, the anchor itself left out; rows
    are padded to Kmax = (largest identity count) - 1 with the anchor's own column. Under
    XLA, Kmax is B - 1, its static bound. With `include_self` the anchor's own column is
    one of its positives (Kmax = largest count, B under XLA): across two models' vectors
    of the same images, where column a is the other model's vector of anchor a's image.

    Args:
        labels: [B] labels of any sortable dtype, or strings.
        xla: tracing for XLA, where Kmax must not depend on the labels.
        include_self: list the anchor's own column among its positives.

    Returns:
        ids: int32 [B], equal for equal labels; positives: int32 [B, Kmax]; valid: bool
        [B, Kmax]; count: int32 [B], the size of each anchor's identity (itself included).
    """
    b = tf.size(labels)
    if labels.dtype == tf.string:
        labels = tf.unique(labels, out_idx=tf.int32).idx  # strings do not sort
    order = tf.argsort(labels, stable=True)  # members grouped by identity, in batch order
    ordered = tf.gather(labels, order)
    changed = tf.not_equal(ordered, tf.concat([ordered[:1], ordered[:-1]], 0))
    group = tf.cumsum(tf.cast(changed, tf.int32))  # identity of each sorted position
    position = tf.math.invert_permutation(order)
    ids = tf.gather(group, position)
    start = tf.gather(tf.math.unsorted_segment_min(tf.range(b), group, b), ids)
    count = tf.gather(tf.math.unsorted_segment_sum(tf.ones_like(group), group, b), ids)
    rank = position - start  # the anchor's place in its identity
    others = 0 if include_self else 1  # members other than the anchor: count - others
    if xla:
        kmax = tf.maximum(b - others, 0)
    else:
        kmax = tf.maximum(tf.reduce_max(tf.concat([count, [others]], 0)) - others, 0)
    slot = tf.range(kmax)[None, :]
    member = slot
    if not include_self:
        member = slot + tf.cast(slot >= rank[:, None], tf.int32)  # skip the anchor itself
    valid = slot < count[:, None] - others
    member = tf.minimum(member, count[:, None] - 1)  # keep padding inside the identity
    positives = tf.gather(order, start[:, None] + member)
    positives = tf.where(valid, positives, tf.range(b)[:, None])
    return ids, positives, valid, count


def prepare_batch(labels: tf.Tensor, embeddings: tf.Tensor, distance: str, xla: bool) -> Batch:
    """Distances, the negative mask and the positive table of a validated batch.

    Args:
        labels: [B] identity labels (int, float or string).
        embeddings: float32 or float64 [B, D].
        distance: a canonical name of `facenet_tf.distances`.
        xla: tracing for XLA (static shapes: Kmax = B - 1).

    Returns:
        A `Batch`.
    """
    distances = pairwise_distances(embeddings, distance)
    ids, positives, valid, count = identity_table(labels, xla)
    negative = tf.not_equal(ids[:, None], ids[None, :])
    return Batch(distances, negative, positives, valid, tf.size(ids) - count)


def prepare_cross_batch(labels: tf.Tensor, distances: tf.Tensor, xla: bool) -> Batch:
    """The `Batch` of a rectangular anchors x candidates distance matrix.

    Anchors are one model's vectors of B images, candidates another model's vectors of
    the same B images (row a and column a: the same image), so both share `labels`. An
    anchor's positives are the candidates of its identity, its own image's column
    included; its negatives the candidates of other identities.

    Args:
        labels: [B] identity labels of the images.
        distances: float [B, B], anchors x candidates (not symmetric, diagonal not 0).
        xla: tracing for XLA (static shapes: Kmax = B).

    Returns:
        A `Batch`.
    """
    ids, positives, valid, count = identity_table(labels, xla, include_self=True)
    negative = tf.not_equal(ids[:, None], ids[None, :])
    return Batch(distances, negative, positives, valid, tf.size(ids) - count)


def in_graph(fn: Callable) -> Callable:
    """Wraps ``fn(labels, embeddings, margin, *options, xla)`` into a validating call
    ``(labels, embeddings, margin, *options)`` that runs `fn` as one TensorFlow graph.

    Inputs are checked in Python first (typed errors as the call is made), embeddings
    upcast to the compute dtype and the margin cast to it; `options` are Python values
    (distance name, soft) and key the traces with the dtypes, shapes becoming unknown
    after a second batch size (``reduce_retracing``). Called eagerly, the losses then
    dispatch their hundred-odd ops once instead of one by one (about 3x faster at
    B = 180, 1.3x to 1.9x at B = 1,800); inside a caller's `tf.function` the graph is
    inlined, and gradients flow through it as through the ops themselves.
    """
    graph = tf.function(fn, reduce_retracing=True)

    @functools.wraps(fn)
    def call(labels, embeddings, margin, *options):
        labels, embeddings = _check_inputs(labels, embeddings)
        embeddings = tf.cast(embeddings, compute_dtype(embeddings.dtype))
        margin = tf.cast(margin, embeddings.dtype)
        return graph(labels, embeddings, margin, *options, _compiling_with_xla())

    return call


def gather_positives(batch: Batch, values: tf.Tensor | None = None) -> tf.Tensor:
    """values[a, positives[a, k]] as [B, Kmax] (values: [B, B], default the distances)."""
    values = batch.distances if values is None else values
    return tf.gather(values, batch.positives, batch_dims=1)


def masked_extreme(data: tf.Tensor, mask: tf.Tensor, largest: bool) -> tf.Tensor:
    """Row-wise max (or min) over `mask`; rows with an empty mask get the row min (max).

    The fallback reproduces TF Addons' ``_masked_maximum`` / ``_masked_minimum``: for an
    empty row their arithmetic returns the opposite extreme of the whole row (diagonal
    included).

    Args:
        data: float [B, N].
        mask: bool [B, N].
        largest: maximum if True, else minimum.

    Returns:
        float [B].
    """
    reduce, fallback = (tf.reduce_max, tf.reduce_min) if largest else (tf.reduce_min, tf.reduce_max)
    inf = tf.constant(-float("inf") if largest else float("inf"), data.dtype)
    masked = reduce(tf.where(mask, data, inf), 1)
    return tf.where(tf.reduce_any(mask, axis=1), masked, fallback(data, axis=1))


def _sorted_slots(values: tf.Tensor, valid: tf.Tensor):
    """Sorts each row's valid values (padding last, as +inf): (sorted, order)."""
    keys = tf.where(valid, values, tf.constant(float("inf"), values.dtype))
    order = tf.argsort(keys, axis=1, stable=True)
    return tf.gather(keys, order, batch_dims=1), order


def _unsort(values: tf.Tensor, order: tf.Tensor) -> tf.Tensor:
    """Inverse of ``tf.gather(x, order, batch_dims=1)`` on [B, K]."""
    return tf.gather(values, tf.argsort(order, axis=1), batch_dims=1)


def _int_keys(values: tf.Tensor) -> tf.Tensor:
    """Integers ordered as the floats `values` (same width): binary searches over them
    run about twice as fast as over floats. Non-negative floats compare as their bit
    patterns; negative ones (thresholds with a negative margin) have their magnitude
    bits flipped. Distances are >= +0 (never -0.0), so they need only the bitcast."""
    itype = tf.int64 if values.dtype == tf.float64 else tf.int32
    bits = tf.bitcast(values, itype)
    magnitude = tf.constant(itype.max, itype)
    return tf.where(bits < 0, tf.bitwise.bitwise_xor(bits, magnitude), bits)


def _gaps(sorted_thresholds: tf.Tensor, keys: tf.Tensor, side: str):
    """Gap of every cell among its row's sorted thresholds: how many thresholds are
    below it (``side`` as in `tf.searchsorted`), and the segment id
    ``row * (Kmax + 1) + gap``. Both int32 [B, B]; `keys` are floats [B, B] >= +0 or
    negative sentinels."""
    itype = tf.int64 if keys.dtype == tf.float64 else tf.int32
    gap = tf.searchsorted(_int_keys(sorted_thresholds), tf.bitcast(keys, itype), side=side)
    width = tf.shape(sorted_thresholds)[1] + 1
    return gap, gap + width * tf.range(tf.shape(keys)[0])[:, None]


def _gap_nearest(keys: tf.Tensor, segment: tf.Tensor, num_segments) -> tuple[tf.Tensor, tf.Tensor]:
    """Per segment the column of its smallest key (lowest column among ties), and per
    row the column of its largest key.

    Args:
        keys: float [A, C] (anchors x candidates; A = C = B within one batch); negative
            cells hold their distance (>= 0), others -1.
        segment: int32 [A, C], from `_gaps`.
        num_segments: A * (Kmax + 1).

    Returns:
        nearest: int32 [num_segments], >= C for segments without a negative.
        farthest: int32 [A], meaningful for rows with a negative.
    """
    b = tf.shape(keys)[1]  # the number of columns: the sentinel of an empty segment
    columns = tf.range(b)[None, :]
    if keys.dtype == tf.float32:
        # float32 -> float64 leaves the low 29 mantissa bits zero: with the column there,
        # one int64 reduction gives the smallest key and its lowest column together.
        packed = tf.bitwise.bitwise_or(
            tf.bitcast(tf.cast(keys, tf.float64), tf.int64), tf.cast(columns, tf.int64)
        )
        low = tf.constant((1 << 29) - 1, tf.int64)
        nearest = tf.math.unsorted_segment_min(packed, segment, num_segments)
        empty = nearest == tf.int64.max
        nearest = tf.where(empty, tf.cast(b, tf.int64), tf.bitwise.bitwise_and(nearest, low))
        farthest = tf.bitwise.bitwise_and(tf.reduce_max(packed, axis=1), low)
        return tf.cast(nearest, tf.int32), tf.cast(farthest, tf.int32)
    smallest = tf.math.unsorted_segment_min(keys, segment, num_segments)
    hits = tf.equal(keys, tf.gather(smallest, segment))
    nearest = tf.math.unsorted_segment_min(tf.where(hits, columns, b), segment, num_segments)
    farthest = tf.argmax(keys, axis=1, output_type=tf.int32)
    return tf.minimum(nearest, b), farthest


def semihard_negatives(batch: Batch) -> tuple[tf.Tensor, tf.Tensor]:
    """Column of the semi-hard negative of every (anchor, positive slot).

    For anchor a and positive p the negative is the nearest one strictly farther from a
    than p; when there is none, the farthest negative of a; when a has no negative at
    all, column a: a itself (TF Addons' fallback is the minimum of row a, which is
    d(a, a) = 0 for our distances), or in a cross batch (`prepare_cross_batch`, anchors
    x candidates) the candidate of a's own image.

    With a's positive distances sorted, t_1 <= ... <= t_K, a negative n lies in gap
    g(n) = #{k: t_k < d(a, n)} and is strictly farther than t_k exactly when g(n) >= k.
    Gaps hold increasing distances, so the answer for t_k is the nearest negative of the
    first non-empty gap >= k: one segment minimum per (anchor, gap) answers every k.
    Columns are mined without gradient; the caller gathers their distances.

    Args:
        batch: a `Batch`.

    Returns:
        column: int32 [B, Kmax], aligned with ``batch.positives``.
        fell_back: bool [B, Kmax], True where no negative was farther than p.
    """
    d = tf.stop_gradient(batch.distances)
    b, n = tf.shape(d)[0], tf.shape(d)[1]  # anchors (rows) x candidates (columns)
    thresholds, order = _sorted_slots(gather_positives(batch, d), batch.valid)
    kmax = tf.shape(thresholds)[1]
    keys = tf.where(batch.negative, d, tf.constant(-1.0, d.dtype))  # others: gap 0, unused
    _, segment = _gaps(thresholds, keys, side="left")
    nearest, farthest = _gap_nearest(keys, segment, b * (kmax + 1))
    nearest = tf.reshape(nearest, [b, kmax + 1])[:, 1:]  # gap k answers t_k (1-based)
    # First non-empty gap at or after each k: the one holding non-empty gap number
    # (non-empty gaps before k) + 1.
    nonempty = tf.cast(nearest < n, tf.int32)
    seen = tf.cumsum(nonempty, axis=1)
    first = tf.searchsorted(seen, seen - nonempty + 1, side="left")
    has_farther = first < kmax
    farther = tf.gather(nearest, tf.minimum(first, kmax - 1), batch_dims=1)
    farthest = tf.where(batch.num_negatives > 0, farthest, tf.range(b))
    column = tf.where(has_farther, farther, farthest[:, None])
    return _unsort(column, order), _unsort(tf.logical_not(has_farther), order)


def batch_all_hinges(batch: Batch, margin: tf.Tensor, xla: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """Sum of the hinges of all valid triplets and the number of active ones, in float64.

    For anchor a, positive p and threshold t = d_ap + margin the active negatives are
    those with d_an < t; their hinge sum is count * t - (sum of their distances). With
    a's thresholds sorted, a negative is active for every t above its gap (the number of
    thresholds <= d_an), so a count and a sum per (anchor, gap) and prefix sums over the
    gaps give every (a, p) in O(B^2 log Kmax) time and O(B^2) memory.

    The gradient is written by hand: d(sum)/d(d_ap) = number of active negatives of
    (a, p), and d(sum)/d(d_an) = -(number of positives p of a with d_an < d_ap + margin)
    = -(valid thresholds - the negative's gap).
    """

    num_valid = tf.reduce_sum(tf.cast(batch.valid, tf.int32), axis=1)

    @tf.custom_gradient
    def hinges(distances):
        total, num_active, gap, counts, cells = _batch_all_sums(
            distances, batch.negative, batch.positives, batch.valid, margin, xla
        )

        def grad(upstream_total, upstream_num_active):
            del upstream_num_active  # a count: piecewise constant, zero gradient
            per_cell = _batch_all_cell_gradient(gap, num_valid, cells, counts)
            return tf.cast(upstream_total, distances.dtype) * tf.cast(per_cell, distances.dtype)

        return (total, num_active), grad

    return hinges(batch.distances)


def _batch_all_sums(distances, negative, positives, valid, margin, xla: bool):
    """Forward pass of `batch_all_hinges`, and what its gradient needs."""
    b = tf.shape(distances)[0]
    thresholds, order = _sorted_slots(tf.gather(distances, positives, batch_dims=1) + margin, valid)
    width = tf.shape(thresholds)[1] + 1
    # Other cells go to the last gap (+inf is >= every threshold), which no threshold
    # activates: only the valid ones, gaps 0..k for threshold k (0-based), do.
    keys = tf.where(negative, distances, tf.constant(float("inf"), distances.dtype))
    gap, segment = _gaps(thresholds, keys, side="right")
    sums = tf.math.unsorted_segment_sum(tf.cast(keys, tf.float64), segment, b * width)
    if xla:  # bincount's length must be a compile-time constant
        counts = tf.math.unsorted_segment_sum(tf.ones_like(segment), segment, b * width)
    else:  # a few times faster
        counts = tf.math.bincount(segment, minlength=b * width, maxlength=b * width)
    sums = tf.cumsum(tf.reshape(sums, [b, width])[:, :-1], axis=1)
    counts = tf.cumsum(tf.reshape(counts, [b, width])[:, :-1], axis=1)
    valid_sorted = tf.gather(valid, order, batch_dims=1)
    counts = tf.where(valid_sorted, counts, 0)
    counts64 = tf.cast(counts, tf.float64)
    per_pair = counts64 * tf.cast(thresholds, tf.float64) - sums
    total = tf.reduce_sum(tf.where(valid_sorted, per_pair, tf.zeros_like(per_pair)))
    rows = tf.broadcast_to(tf.range(b)[:, None], tf.shape(order))
    cells = tf.stack([rows, tf.gather(positives, order, batch_dims=1)], axis=-1)
    return total, tf.reduce_sum(counts64), gap, counts, cells


def _batch_all_cell_gradient(gap, num_valid, cells, counts):
    """d(hinge sum)/d(distances), int32 [B, B]: -(active positives) on negative cells,
    the number of active negatives on positive cells."""
    # Other cells (and infinite distances) sit in the last gap: min(., 0) = 0.
    per_cell = tf.minimum(gap - num_valid[:, None], 0)
    return tf.tensor_scatter_nd_add(per_cell, cells, counts)


def safe_divide(numerator: tf.Tensor, denominator: tf.Tensor) -> tf.Tensor:
    """numerator / denominator, and 0 where the denominator is 0 (empty sets)."""
    denominator = tf.cast(denominator, numerator.dtype)
    return tf.math.divide_no_nan(numerator, denominator)


def semihard_pair_stats(
    valid: tf.Tensor,
    per_pair: tf.Tensor,
    d_ap: tf.Tensor,
    d_an: tf.Tensor,
    fell_back: tf.Tensor,
    num_pairs: tf.Tensor,
) -> dict[str, tf.Tensor]:
    """Means over the valid (anchor, positive) pairs of a semi-hard loss: the share of
    active triplets, mean d(a, p), mean d(a, n) and the share of anchors that fell back
    to the farthest negative. All [B, K] but ``num_pairs`` (scalar)."""

    def mean_over_pairs(values):
        values = tf.where(valid, tf.cast(values, d_ap.dtype), tf.zeros_like(d_ap))
        return safe_divide(tf.reduce_sum(values), num_pairs)

    return {
        "fraction_active_triplets": mean_over_pairs(per_pair > 0.0),
        "mean_d_ap": mean_over_pairs(d_ap),
        "mean_d_an": mean_over_pairs(d_an),
        "fraction_fallback_negatives": mean_over_pairs(fell_back),
    }
