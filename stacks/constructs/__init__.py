"""One construct per capability of the skin-lesion stack."""
