"""Import benign and malignant images from the public ISIC Archive into a training folder.

Runs as a SageMaker Processing job during `cdk deploy` (the stack's DatasetImport
step) and equally on a laptop:

    python -m isic_import --output /tmp/isic --limit 200            # local trial
    (on SageMaker the job runs the same command with --output /opt/ml/processing/output)

It pages through the archive's documented search API
(`GET {api}/images/search/?query=…&limit=…`, following the `next` cursor URL), once
per class, downloads each image (the 256 px thumbnail when the training size allows,
else the full image), resizes it once to the training size and writes:

    benign/ISIC_…jpg  malignant/ISIC_…jpg    the layout train.py reads
    labels.csv                               one row per image: label, diagnosis, licence, attribution,
                                             and `source` (the attribution: train.py keeps it per image)
    attribution.txt                          every distinct attribution (CC licences require it)
    manifest.json                            counts per class, queries, date, licence summary

Standard library plus Pillow only: the SageMaker TensorFlow container has both.
"""

DEFAULT_API_URL = "https://api.isic-archive.com/api/v2/"
# The archive's hierarchical diagnosis: diagnosis_1 is Benign / Malignant / Indeterminate.
DEFAULT_QUERIES = {
    "benign": 'diagnosis_1:"Benign" AND image_type:dermoscopic',
    "malignant": 'diagnosis_1:"Malignant" AND image_type:dermoscopic',
}
EXPECTED_DIAGNOSIS_1 = {"benign": "Benign", "malignant": "Malignant"}
MANIFEST_FORMAT = "skinlesion-folders/1"
