"""The physical anchor: the same models as a bare TensorFlow training loop.

No Keras at all: raw variables, matmuls and convolutions, the batch-normalization math with
moving averages, plain SGD updates, and one `tf.function` running a whole epoch over the uint8
images held as a tensor, with loss and accuracy summed in the loop. `bnlab.train` is measured
against this. The MLPs are the seed preset's three models (the reference notebook's); the CNN is
bnlab's `cnn` (3x3 convolutions with 'same' padding, each followed by 2x2 max pooling) with ReLU
and batch normalization where the placement says.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import tensorflow as tf

EPSILON = 1e-3  # Keras' BatchNormalization default
MOMENTUM = 0.99
LEAK = 0.2  # Keras' LeakyReLU default negative slope


class _BatchNorm:
    """Batch normalization over every axis but the last (the units, or a conv's channels)."""

    def __init__(self, units: int):
        self.gamma = tf.Variable(tf.ones([units]))
        self.beta = tf.Variable(tf.zeros([units]))
        self.moving_mean = tf.Variable(tf.zeros([units]), trainable=False)
        self.moving_var = tf.Variable(tf.ones([units]), trainable=False)

    def __call__(self, x, training: bool):
        if training:
            mean, var = tf.nn.moments(x, axes=list(range(len(x.shape) - 1)))
            self.moving_mean.assign(self.moving_mean * MOMENTUM + mean * (1 - MOMENTUM))
            self.moving_var.assign(self.moving_var * MOMENTUM + var * (1 - MOMENTUM))
        else:
            mean, var = self.moving_mean, self.moving_var
        return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, EPSILON)

    @property
    def trainable(self):
        return [self.gamma, self.beta]


class _Dense:
    def __init__(self, fan_in: int, units: int, rng: np.random.Generator, bias: bool = True):
        std = np.sqrt(2.0 / fan_in)  # he_normal (untruncated is fine for an anchor)
        self.kernel = tf.Variable(rng.normal(0, std, (fan_in, units)).astype(np.float32))
        self.bias = tf.Variable(tf.zeros([units])) if bias else None

    def __call__(self, x):
        y = tf.matmul(x, self.kernel)
        return y + self.bias if self.bias is not None else y

    @property
    def trainable(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])


class BareModel:
    """`none`, `after_activation` or `before_activation` with hidden sizes (300, 100)."""

    def __init__(self, placement: str, hidden=(300, 100), seed: int = 0):
        rng = np.random.default_rng(seed)
        self.placement = placement
        sizes = [784, *hidden]
        bn = placement != "none"
        self.input_bn = _BatchNorm(784) if bn else None
        self.dense = [
            _Dense(a, b, rng, bias=placement != "before_activation")
            for a, b in itertools.pairwise(sizes)
        ]
        self.bns = [_BatchNorm(units) for units in hidden] if bn else []
        self.out = _Dense(sizes[-1], 10, rng)
        self.variables = [v for layer in self._layers() for v in layer.trainable]

    def _layers(self):
        return [*([self.input_bn] if self.input_bn else []), *self.dense, *self.bns, self.out]

    def __call__(self, images, training: bool):
        h = tf.reshape(images, [-1, 784])
        if self.input_bn:
            h = self.input_bn(h, training)
        for i, dense in enumerate(self.dense):
            h = dense(h)
            if self.placement == "none":
                h = tf.nn.leaky_relu(h, LEAK)
            elif self.placement == "after_activation":
                h = self.bns[i](tf.nn.relu(h), training)
            else:
                h = tf.nn.relu(self.bns[i](h, training))
        return tf.nn.softmax(self.out(h))


class _Conv:
    def __init__(self, channels: int, filters: int, rng: np.random.Generator, bias: bool):
        std = np.sqrt(2.0 / (9 * channels))  # he_normal
        self.kernel = tf.Variable(rng.normal(0, std, (3, 3, channels, filters)).astype(np.float32))
        self.bias = tf.Variable(tf.zeros([filters])) if bias else None

    def __call__(self, x):
        y = tf.nn.conv2d(x, self.kernel, strides=1, padding="SAME")
        return y + self.bias if self.bias is not None else y

    @property
    def trainable(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])


class BareCNN:
    """bnlab's `cnn` with ReLU, no input normalization, and BN where `placement` says."""

    def __init__(self, placement: str, conv=(32, 64), seed: int = 0):
        rng = np.random.default_rng(seed)
        self.placement = placement
        channels = [1, *conv]
        self.convs = [
            _Conv(a, b, rng, bias=placement != "before_activation")
            for a, b in itertools.pairwise(channels)
        ]
        self.bns = [_BatchNorm(f) for f in conv] if placement != "none" else []
        side = 28 // 2 ** len(conv)
        self.out = _Dense(side * side * conv[-1], 10, rng)
        layers = [*self.convs, *self.bns, self.out]
        self.variables = [v for layer in layers for v in layer.trainable]

    def __call__(self, images, training: bool):
        h = tf.reshape(images, [-1, 28, 28, 1])
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if self.placement == "none":
                h = tf.nn.relu(h)
            elif self.placement == "after_activation":
                h = self.bns[i](tf.nn.relu(h), training)
            else:
                h = tf.nn.relu(self.bns[i](h, training))
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        return tf.nn.softmax(self.out(tf.reshape(h, [tf.shape(h)[0], -1])))


def _cross_entropy(y, probs):
    probs = tf.clip_by_value(probs, 1e-7, 1 - 1e-7)
    return -tf.math.log(tf.gather(probs, y, axis=1, batch_dims=1))


def train(
    placement: str, data, epochs: int, lr: float, batch_size: int = 32, seed: int = 0, arch="mlp"
):
    """Train the bare model; returns per-epoch (seconds, val_accuracy)."""
    model = BareModel(placement, seed=seed) if arch == "mlp" else BareCNN(placement, seed=seed)
    x_train = tf.constant(data.train.x)
    y_train = tf.constant(data.train.y.astype(np.int32))
    x_val = tf.cast(tf.constant(data.validation.x), tf.float32) / 255.0
    y_val = tf.constant(data.validation.y.astype(np.int32))
    n = len(data.train)
    steps = -(-n // batch_size)

    @tf.function
    def epoch_fn(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        loss_sum, correct = tf.constant(0.0), tf.constant(0.0)
        for step in tf.range(steps):
            index = order[step * batch_size : (step + 1) * batch_size]
            x = tf.cast(tf.gather(x_train, index), tf.float32) / 255.0
            y = tf.gather(y_train, index)
            with tf.GradientTape() as tape:
                probs = model(x, training=True)
                loss = tf.reduce_mean(_cross_entropy(y, probs))
            grads = tape.gradient(loss, model.variables)
            for variable, grad in zip(model.variables, grads, strict=True):
                variable.assign_sub(lr * grad)
            size = tf.cast(tf.shape(y)[0], tf.float32)
            loss_sum += loss * size
            correct += tf.reduce_sum(
                tf.cast(tf.equal(tf.argmax(probs, -1, output_type=tf.int32), y), tf.float32)
            )
        return loss_sum / n, correct / n

    @tf.function
    def validate():
        probs = model(x_val, training=False)
        return tf.reduce_mean(
            tf.cast(tf.equal(tf.argmax(probs, -1, output_type=tf.int32), y_val), tf.float32)
        )

    epochs_out = []
    for epoch in range(epochs):
        start = time.perf_counter()
        epoch_fn(tf.constant(epoch, tf.int64))
        val_accuracy = float(validate())
        epochs_out.append((time.perf_counter() - start, val_accuracy))
    return epochs_out


def flops_per_epoch(n_train: int, n_val: int, arch: str = "mlp") -> float:
    """Matrix-multiply and convolution FLOPs of one epoch: forward + backward (3x forward) on
    the training split, forward on the validation split. Elementwise work (BN, activations,
    pooling) is left out."""
    if arch == "mlp":
        sizes = [784, 300, 100, 10]
        forward = sum(2 * a * b for a, b in itertools.pairwise(sizes))
    else:
        side, channels, forward = 28, 1, 0
        for filters in (32, 64):
            forward += 2 * side * side * 9 * channels * filters
            side, channels = side // 2, filters
        forward += 2 * side * side * channels * 10
    return 3 * forward * n_train + forward * n_val
