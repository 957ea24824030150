"""The shared contract (`lambda_src/predict_api/contract.py`), loaded by file path.

Loading the file directly, instead of importing the `predict_api` package, keeps
the stack independent of whatever the Lambda package's `__init__` imports
(Powertools, Pillow): the contract module itself is standard-library only.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

CONTRACT_PATH = Path(__file__).resolve().parent.parent / "lambda_src" / "predict_api" / "contract.py"
_MODULE_NAME = "skinlesion_stack_contract"


def _load() -> ModuleType:
    if _MODULE_NAME in sys.modules:
        return sys.modules[_MODULE_NAME]
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, CONTRACT_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the shared contract from {CONTRACT_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


contract = _load()
