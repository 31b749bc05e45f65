"""P x K sampling: batch structure checked by brute force, determinism, replica slicing."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.data import ReplicaLayout, build_identity_table, pk_index_dataset, sample_pk
from facenet_tf.data.ops import base_seed
from facenet_tf.errors import InvalidInputError

# Identity i has COUNTS[i] images; labels are deliberately not contiguous in file order.
COUNTS = [1, 2, 3, 4, 5, 6, 7, 8, 2, 9]


def _labels(seed: int = 0) -> np.ndarray:
    labels = np.concatenate([np.full(n, i) for i, n in enumerate(COUNTS)])
    return np.random.default_rng(seed).permutation(labels).astype(np.int32)


def test_identity_table_matches_brute_force():
    labels = _labels()
    table = build_identity_table(labels, min_images=3)
    expected = [i for i, n in enumerate(COUNTS) if n >= 3]
    assert table.labels.tolist() == expected
    for j, label in enumerate(table.labels):
        members = table.members[table.offsets[j] : table.offsets[j] + table.counts[j]]
        assert members.tolist() == np.flatnonzero(labels == label).tolist()
    assert table.max_count == 9


@pytest.mark.parametrize("k", [2, 4, 7])
def test_batches_have_p_distinct_identities_and_k_images_each(k):
    labels = _labels()
    table = build_identity_table(labels, min_images=2)
    p = 5
    for step in range(20):
        index, label = (t.numpy() for t in sample_pk(table, step, base_seed(3), p, k))
        assert index.shape == (p, k) and label.shape == (p,)
        assert len(set(label.tolist())) == p
        assert 0 not in label  # identity 0 has one image, below min_images
        for row, lab in zip(index, label, strict=True):
            # Every image belongs to the row's identity ...
            assert (labels[row] == lab).all()
            n = COUNTS[lab]
            counts = collections.Counter(row.tolist())
            if n >= k:  # ... drawn without replacement when there are enough,
                assert len(counts) == k
            else:  # ... else all n images, cycled as evenly as possible.
                assert len(counts) == n
                assert max(counts.values()) - min(counts.values()) <= 1


def test_same_seed_and_step_same_batch_else_different():
    table = build_identity_table(_labels(), min_images=2)

    def batch(seed, step):
        return [
            t.numpy() for t in sample_pk(table, tf.constant(step, tf.int64), base_seed(seed), 4, 3)
        ]

    a, b = batch(1, 5), batch(1, 5)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(batch(1, 5)[0], batch(1, 6)[0])
    assert not np.array_equal(batch(1, 5)[0], batch(2, 5)[0])


def test_every_eligible_identity_is_drawn_and_roughly_uniformly():
    table = build_identity_table(_labels(), min_images=2)
    seen = collections.Counter()
    for step in range(300):
        seen.update(sample_pk(table, step, base_seed(0), 3, 2)[1].numpy().tolist())
    assert set(seen) == set(table.labels.tolist())
    # 900 draws over 9 identities: 100 each on average, binomial sd ~ 9.4.
    assert min(seen.values()) > 60 and max(seen.values()) < 140


def test_too_few_identities_raises():
    table = build_identity_table(_labels(), min_images=8)  # identities 7 and 9
    with pytest.raises(InvalidInputError, match="identities_per_batch=3"):
        sample_pk(table, 0, base_seed(0), 3, 2)


def _collect(ds):
    out = collections.defaultdict(list)
    for d in ds:
        for k, v in d.items():
            out[k].append(v.numpy())
    return {k: np.stack(v) for k, v in out.items()}


def test_replica_slices_concatenate_to_the_single_pipeline_batch():
    table = build_identity_table(_labels(), min_images=2)
    p, k, steps = 4, 3, 3
    single = _collect(pk_index_dataset(table, p, k, seed=5, num_steps=steps))
    assert single["index"].shape == (steps * p * k,)
    # Two pipelines with one replica each (multi-worker), and one pipeline feeding two.
    per_worker = [
        _collect(pk_index_dataset(table, p, k, 5, 0, steps, ReplicaLayout(2, r, 1)))
        for r in range(2)
    ]
    local = _collect(pk_index_dataset(table, p, k, 5, 0, steps, ReplicaLayout(2, 0, 2)))
    half = p * k // 2
    for key in ("index", "label", "seed"):
        joined = np.concatenate(
            [
                np.concatenate([w[key][s * half : (s + 1) * half] for w in per_worker])
                for s in range(steps)
            ]
        )
        np.testing.assert_array_equal(joined, single[key])
        np.testing.assert_array_equal(local[key], single[key])


def test_start_step_resumes_the_same_stream():
    table = build_identity_table(_labels(), min_images=2)
    full = _collect(pk_index_dataset(table, 3, 2, seed=9, num_steps=5))
    tail = _collect(pk_index_dataset(table, 3, 2, seed=9, start_step=2, num_steps=3))
    for key in full:
        np.testing.assert_array_equal(tail[key], full[key][2 * 6 :])


def test_replicas_must_divide_p():
    with pytest.raises(InvalidInputError, match="divisible"):
        ReplicaLayout(num_replicas=3).identities_per_replica(4)
