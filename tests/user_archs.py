"""A user's own architecture module, as `--arch-module tests.user_archs` imports it: a two-block
CNN made with bnlab's block factory, so it gets every placement, norm kind and activation."""

import bnlab


def two_block_cnn(block, input_shape):
    from keras import layers

    height, width, *channels = input_shape
    return [
        layers.Reshape((height, width, channels[0] if channels else 1)),
        *block.conv(8),
        layers.MaxPooling2D(2),
        *block.conv(16),
        layers.GlobalAveragePooling2D(),
    ]


bnlab.register_arch("two_block_cnn", two_block_cnn, replace=True)
