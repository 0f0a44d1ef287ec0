"""The compiled training loop: one TensorFlow call per epoch, one per evaluation.

Keras' `fit` pays per step for its data adapter, metric objects and callback checks; on a small
MLP that is most of the time. Here the whole epoch is one `tf.function`: batches are gathered
from the uint8 images held as one tensor, the Keras model runs forward and backward, the Keras
optimizer applies the update, and loss and accuracy are summed in the graph. The math is the
reference loop's (Keras' loss, the model's own BN layers, the compiled optimizer).
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf
from keras import losses

EVAL_BATCH_SIZE = 1024


def _inputs(x: tf.Tensor) -> tf.Tensor:
    """What the model sees: uint8 pixels scaled to [0, 1], other inputs as float32."""
    if x.dtype == tf.uint8:
        return tf.cast(x, tf.float32) / 255.0
    return tf.cast(x, tf.float32)


class CompiledLoop:
    """Train and evaluate a compiled Keras classifier with few calls into TensorFlow.

    Args:
        model: A Keras model compiled with its optimizer (`model.optimizer`).
        train_x: Training inputs: uint8 pixels (N, 28, 28) or float32 features of any shape.
        train_y: Training labels (N,).
        batch_size: Examples per optimizer step; the last batch of an epoch may be smaller.
        seed: With the epoch number, fixes the shuffle order (stateless: a resumed run sees the
            batches an uninterrupted one would).
    """

    def __init__(self, model, train_x: np.ndarray, train_y: np.ndarray, batch_size: int, seed: int):
        self.model = model
        self._x = tf.constant(train_x)
        self._y = tf.constant(train_y.astype(np.int32))
        self._n = len(train_y)
        self._batch = batch_size
        self.steps = -(-self._n // batch_size)
        self._seed = seed
        model.optimizer.build(model.trainable_variables)
        # One trace each: any split size, and the shuffled order as an argument (XLA was tried
        # for the epoch and is not usable here: no CPU kernel for the shuffle, and compiled
        # loops over the resident images ran far slower).
        # Partials, not methods: TensorFlow counts traces per function code object, and every
        # trial in a worker process builds a new loop, which would read as retracing.
        self._train_epoch = tf.function(
            functools.partial(CompiledLoop._epoch, self),
            input_signature=[tf.TensorSpec([None], tf.int32)],
            jit_compile=False,
        )
        self._evaluate = tf.function(
            functools.partial(CompiledLoop._eval, self),
            input_signature=[
                tf.TensorSpec([None, *train_x.shape[1:]], tf.as_dtype(train_x.dtype)),
                tf.TensorSpec([None], tf.int32),
            ],
            jit_compile=False,
        )

    def reset(self, seed: int) -> None:
        """Shuffle as trial `seed` does from now on (the traced functions stay)."""
        self._seed = seed

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training data in the order of (seed, epoch).

        Returns:
            `loss` and `accuracy` averaged over the examples seen; the pass stops at the first
            step whose loss is not finite, and `loss` is then that non-finite value.
        """
        seed = tf.constant([self._seed, epoch], tf.int64)
        order = tf.random.experimental.stateless_shuffle(tf.range(self._n), seed=seed)
        loss, accuracy = self._train_epoch(order)
        return {"loss": float(loss), "accuracy": float(accuracy)}

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Mean loss and accuracy over a whole split, in inference mode."""
        loss, accuracy = self._evaluate(tf.constant(x), tf.constant(y.astype(np.int32)))
        return float(loss), float(accuracy)

    def _epoch(self, order):
        model, optimizer = self.model, self.model.optimizer
        loss_sum = tf.constant(0.0)
        correct = tf.constant(0.0)
        seen = tf.constant(0.0)
        for step in tf.range(self.steps):
            index = order[step * self._batch : (step + 1) * self._batch]
            x, y = _inputs(tf.gather(self._x, index)), tf.gather(self._y, index)
            with tf.GradientTape() as tape:
                probs = model(x, training=True)
                loss = tf.reduce_mean(losses.sparse_categorical_crossentropy(y, probs))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            size = tf.cast(tf.shape(y)[0], tf.float32)
            loss_sum += loss * size
            correct += _correct(y, probs)
            seen += size
            if not tf.math.is_finite(loss):
                break  # diverged: the rest of the epoch would only compute NaNs
        return loss_sum / seen, correct / seen

    def _eval(self, x_u8, y):
        n = tf.shape(y)[0]
        loss_sum = tf.constant(0.0)
        correct = tf.constant(0.0)
        for start in tf.range(0, n, EVAL_BATCH_SIZE):
            xb = _inputs(x_u8[start : start + EVAL_BATCH_SIZE])
            yb = y[start : start + EVAL_BATCH_SIZE]
            probs = self.model(xb, training=False)
            loss_sum += tf.reduce_sum(losses.sparse_categorical_crossentropy(yb, probs))
            correct += _correct(yb, probs)
        total = tf.cast(n, tf.float32)
        return loss_sum / total, correct / total


def _correct(y, probs) -> tf.Tensor:
    predicted = tf.argmax(probs, axis=-1, output_type=tf.int32)
    return tf.reduce_sum(tf.cast(tf.equal(predicted, y), tf.float32))
