"""Skin-lesion classifier: data pipeline, architectures, training, metrics and export.

Label order is fixed here and saved with every model: index 0 is benign, index 1
malignant (alphabetical, as Keras' folder loaders order them). Every model emits one
logit for "malignant"; the exported graph turns it into [p_benign, p_malignant].
"""

import os

CLASS_NAMES = ("benign", "malignant")
POSITIVE_CLASS = "malignant"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

# Diagnosis-level labels (issue 13). "akiec" is actinic keratosis / intraepidermal or squamous
# carcinoma; "bkl" covers seborrhoeic and lichen-planus-like keratoses and solar lentigo.
DIAGNOSES = ("nv", "bkl", "df", "vasc", "mel", "bcc", "akiec")
MALIGNANT_DIAGNOSES = frozenset({"mel", "bcc", "akiec"})


def class_image_files(root: str) -> list[tuple[int, str]]:
    """(label, path) of every image under root/<class>/ (recursively), in a reproducible order."""
    found = []
    for label, name in enumerate(CLASS_NAMES):
        class_dir = os.path.join(root, name)
        if not os.path.isdir(class_dir):
            raise FileNotFoundError(f"{root!r} needs a sub-folder per class: {class_dir!r} is missing")
        for dirpath, _, files in sorted(os.walk(class_dir)):
            found += [
                (label, os.path.join(dirpath, f))
                for f in sorted(files)
                if f.lower().endswith(IMAGE_EXTENSIONS)
            ]
    if not found:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {root!r}")
    return found
