"""Run a SavedModel the way TF Serving does: the TF1 session loader plus Session.run on the
SignatureDef's tensor names (the path of `saved_model_cli run` and TFS's C++ LoadSavedModel).

Imported by the tests, and run as a script under the inference container's TensorFlow
(SKINLESION_TF_SERVING_PYTHON) to prove the artifact loads and answers there:
    python tfs_session_run.py SAVED_MODEL_DIR IMAGE_FILE... -> JSON {"tf": version, "probabilities": [...]}
"""

import json
import sys


class ServingSession:
    """A SavedModel loaded once into a TF1 Session, run by SignatureDef tensor names like TFS."""

    def __init__(self, saved_model_dir, signature="serving_default"):
        import tensorflow as tf

        self.session = tf.compat.v1.Session(graph=tf.Graph())
        meta_graph = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], saved_model_dir)
        sig = meta_graph.signature_def[signature]
        self.names = {k: v.name for k, v in sig.inputs.items()} | {k: v.name for k, v in sig.outputs.items()}

    def __call__(self, blobs):
        """Probabilities [N, 2] (nested lists) for encoded images `blobs` (a list of bytes)."""
        feed = {self.names["image_bytes"]: list(blobs)}
        return self.session.run(self.names["probabilities"], feed_dict=feed).tolist()


def session_run(saved_model_dir, blobs):
    """Load and run once: (probabilities, tensor names)."""
    served = ServingSession(saved_model_dir)
    try:
        return served(blobs), served.names
    finally:
        served.session.close()


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
