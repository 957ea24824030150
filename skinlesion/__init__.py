"""skinlesion: the serverless skin-lesion classifier's command line and local stack.

`skinlesion.cli` is the `skinlesion` console script; `skinlesion.local` runs the whole
product (model server, sign-in, API gateway, web page) on one machine with no AWS account.
"""

from pathlib import Path

__version__ = "0.1.0"

# The repository root (the package is installed editable from it): where models/, web/ and
# lambda_src/ live.
REPO_ROOT = Path(__file__).resolve().parents[1]
