"""Triplet mining over the global batch under `tf.distribute`.

With R replicas each holding B_r embeddings, mining inside each replica sees only B_r
faces; FaceNet's semi-hard mining wants the whole batch. `replica_triplet_loss` gathers
labels and embeddings from all replicas, so every replica computes the same global loss
L(e_1, ..., e_R), and arranges values and gradients so that the usual SUM reductions
reproduce single-device training on the concatenated batch:

* value: each replica returns L / R, so ``strategy.reduce(SUM, ...)`` gives L;
* gradient: replica r backpropagates dL/de_r (not dL/de_r / R). Its copies of the
  other replicas' embeddings are `stop_gradient`-ed, so replica r's variable gradient
  is dL/de_r * de_r/dtheta, and the SUM all-reduce of gradients (what
  ``optimizer.apply_gradients`` does under a strategy) gives
  sum_r dL/de_r * de_r/dtheta = dL/dtheta, the single-device gradient.

The returned tensor is therefore ``L + stop_gradient(L / R - L)``: its value is L / R
and its gradient is that of L.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from facenet_tf.errors import InvalidInputError


def _worker_device(ctx: tf.distribute.ReplicaContext) -> str:
    """The device this replica runs on, as a fully qualified worker device string.

    Under MultiWorkerMirroredStrategy the elements of a distributed dataset reach a
    `tf.function` step without a device, and ``ReplicaContext.all_gather`` on such a
    tensor fails with "destinations can not be empty" (it derives the destination from
    the value's device). Gathering a copy placed on this device avoids that.
    """
    devices = ctx.strategy.extended.worker_devices
    if len(devices) == 1:
        return devices[0]
    # Several local replicas: the replica id counts across workers; this worker's replicas
    # are numbered after those of the workers before it.
    replica_id = tf.get_static_value(ctx.replica_id_in_sync_group)
    if replica_id is None:  # Not known while tracing: rely on the enclosing device scope.
        return ""
    return devices[int(replica_id) % len(devices)]


def all_gather_batch(
    labels: tf.Tensor, embeddings: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Gathers labels and embeddings of every replica, keeping this replica's slice live.

    Must be called in replica context (inside ``strategy.run``) by all replicas.
    Replicas may hold different batch sizes.

    Args:
        labels: [B_r] labels of this replica.
        embeddings: float [B_r, D] embeddings of this replica.

    Returns:
        global_labels [sum B_r]; global_embeddings [sum B_r, D] in which only this
        replica's rows carry gradient; start and size (int32 scalars) of this
        replica's rows in the global batch.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None:
        raise InvalidInputError(
            "replica_triplet_loss must be called in replica context (inside strategy.run)"
        )
    labels = tf.reshape(tf.convert_to_tensor(labels), [-1])
    embeddings = tf.convert_to_tensor(embeddings)
    with tf.device(_worker_device(ctx)):
        local_size = tf.shape(embeddings, out_type=tf.int32)[:1]
        sizes, global_labels, gathered = ctx.all_gather(
            [tf.identity(local_size), tf.identity(labels), tf.identity(embeddings)], axis=0
        )
    replica_id = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
    start = tf.reduce_sum(sizes[:replica_id])
    size = local_size[0]
    # Other replicas' rows are constants here; this replica's rows are the live tensor,
    # so gradients reach only the local embeddings.
    gathered = tf.stop_gradient(gathered)
    global_embeddings = tf.concat([gathered[:start], embeddings, gathered[start + size :]], axis=0)
    return global_labels, global_embeddings, start, size


def replica_triplet_loss(
    loss_fn: Callable[..., tf.Tensor],
    labels: tf.Tensor,
    embeddings: tf.Tensor,
    **loss_kwargs,
) -> tf.Tensor:
    """Per-replica share of a triplet loss mined over the global batch.

    Call inside ``strategy.run``. Summing the returned values over replicas (and summing
    the gradients, as ``apply_gradients`` does) gives exactly the loss and gradients of
    ``loss_fn`` on the concatenation of all replicas' batches, in replica order.
    Outside any strategy (a single replica) this is just ``loss_fn(labels, embeddings)``.

    Args:
        loss_fn: e.g. `triplet_semihard_loss`; called as
            ``loss_fn(labels, embeddings, **loss_kwargs)`` and returning a scalar.
        labels: int [B_r] labels of this replica.
        embeddings: float [B_r, D] embeddings of this replica.
        **loss_kwargs: forwarded to `loss_fn` (margin, distance, ...).

    Returns:
        Scalar: L / num_replicas in value, with the gradient of L w.r.t. this replica's
        embeddings.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None:
        raise InvalidInputError(
            "replica_triplet_loss must be called in replica context (inside strategy.run)"
        )
    num_replicas = ctx.num_replicas_in_sync
    if num_replicas == 1:
        return loss_fn(labels, embeddings, **loss_kwargs)
    global_labels, global_embeddings, _, _ = all_gather_batch(labels, embeddings)
    loss = loss_fn(global_labels, global_embeddings, **loss_kwargs)
    return loss + tf.stop_gradient(loss / tf.cast(num_replicas, loss.dtype) - loss)
