"""Run a SavedModel the way TF Serving does: the TF1 session loader plus Session.run on the
SignatureDef's tensor names (the path of `saved_model_cli run` and TFS's C++ LoadSavedModel).

Imported by the tests, and run as a script under the inference container's TensorFlow
(SKINLESION_TF_SERVING_PYTHON) to prove the artifact loads and answers there:
    python tfs_session_run.py SAVED_MODEL_DIR IMAGE_FILE... -> JSON {"tf": version, "probabilities": [...]}
"""

import json
import sys


def session_run(saved_model_dir, blobs, signature="serving_default"):
    """Probabilities [N, 2] for encoded images `blobs` (a list of bytes)."""
    import tensorflow as tf

    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as sess:
        meta_graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], saved_model_dir)
        sig = meta_graph.signature_def[signature]
        feed = {sig.inputs["image_bytes"].name: list(blobs)}
        out = sess.run(sig.outputs["probabilities"].name, feed_dict=feed)
    names = {k: v.name for k, v in sig.inputs.items()} | {k: v.name for k, v in sig.outputs.items()}
    return out.tolist(), names


def main(argv):
    import tensorflow as tf

    saved_model_dir, files = argv[0], argv[1:]
    blobs = []
    for path in files:
        with open(path, "rb") as f:
            blobs.append(f.read())
    probabilities, _ = session_run(saved_model_dir, blobs)
    print(json.dumps({"tf": tf.__version__, "probabilities": probabilities}))


if __name__ == "__main__":
    main(sys.argv[1:])
