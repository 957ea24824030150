"""Skin-lesion classifier: data pipeline, architectures, training, metrics and export.

Label order is fixed here and saved with every model: index 0 is benign, index 1
malignant (alphabetical, as Keras' folder loaders order them). Every model emits one
logit for "malignant"; the exported graph turns it into [p_benign, p_malignant].
"""

CLASS_NAMES = ("benign", "malignant")
POSITIVE_CLASS = "malignant"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

# Diagnosis-level labels (issue 13). "akiec" is actinic keratosis / intraepidermal or squamous
# carcinoma; "bkl" covers seborrhoeic and lichen-planus-like keratoses and solar lentigo.
DIAGNOSES = ("nv", "bkl", "df", "vasc", "mel", "bcc", "akiec")
MALIGNANT_DIAGNOSES = frozenset({"mel", "bcc", "akiec"})
