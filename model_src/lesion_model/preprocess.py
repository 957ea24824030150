"""The one preprocessing function shared by training and the serving graph.

Training decodes each file once with it and caches the result; the exported
SavedModel runs the same ops on the request bytes. Scaling to the network's input
range is a layer inside each model, so nothing outside the graph needs to know it.
"""

from __future__ import annotations

import tensorflow as tf


def decode_and_resize(image_bytes: tf.Tensor, size: int) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP bytes -> float32 [size, size, 3] in 0..255.

    Bilinear resize without crop or aspect-ratio padding, exactly what Keras'
    image_dataset_from_directory does, so the seed model sees what it was trained on.
    WebP is not decodable here: the predict Lambda re-encodes it to JPEG first.
    """
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return tf.image.resize(image, (size, size), method="bilinear")
