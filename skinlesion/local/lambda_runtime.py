"""Runs the real predict Lambda in-process, as the Lambda service would: env, context, timeout.

The handler module builds its boto3 client at import from the environment, so the
environment is set before the import. A second gateway in the same process (for example
one pointed at a fault-injecting proxy) gets its own fresh copy of the `predict_api`
modules, hence its own client; note that `os.environ` itself is shared, so settings the
handler reads lazily are the last loaded gateway's. For full isolation run another
gateway process (`python -m skinlesion.local.gateway`).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import types
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

LambdaHandler = Callable[[dict[str, Any], Any], Any]
DEFAULT_HANDLER = "predict_api.app.handler"
FUNCTION_NAME = "skinlesion-local-predict"
MEMORY_MB = 1024


class HandlerTimeout(Exception):
    """The handler ran past the function timeout (Lambda: 'Task timed out')."""


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers read."""

    aws_request_id: str
    deadline: float
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:local:123456789012:function:{FUNCTION_NAME}"
    memory_limit_in_mb: int = MEMORY_MB
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def load_handler(env: Mapping[str, str], dotted: str = DEFAULT_HANDLER) -> LambdaHandler:
    """Set `env`, import the handler and return it (a fresh module copy if one is loaded)."""
    os.environ.update(env)
    module_name, _, attr = dotted.rpartition(".")
    package = module_name.split(".")[0]
    if module_name not in sys.modules:
        _forget_unloaded_submodules(package)
        return getattr(importlib.import_module(module_name), attr)
    ours = {
        name: mod for name, mod in sys.modules.items() if name == package or name.startswith(package + ".")
    }
    for name in ours:
        del sys.modules[name]
    try:
        return getattr(importlib.import_module(module_name), attr)
    finally:
        # Put the earlier copy back: the first gateway's lazy imports keep resolving to it.
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]
        sys.modules.update(ours)


def _forget_unloaded_submodules(package: str) -> None:
    """Drop package attributes that point at submodules no longer in sys.modules.

    Importing `pkg.mod` also sets `pkg.mod` on the package object, and `from pkg import mod`
    prefers that attribute: a copy someone removed from sys.modules (a test's clean-up, a
    reload) would otherwise leak, with its stale endpoint client, into a fresh handler.
    """
    module = sys.modules.get(package)
    if module is None:
        return
    for name, value in list(vars(module).items()):
        if isinstance(value, types.ModuleType) and sys.modules.get(f"{package}.{name}") is not value:
            delattr(module, name)


class LambdaInvoker:
    """Calls a handler with a fresh context, giving up after `timeout_s` like the Lambda service."""

    def __init__(self, handler: LambdaHandler, *, timeout_s: float, max_concurrency: int = 32) -> None:
        self.handler, self.timeout_s = handler, timeout_s
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="lambda")

    def invoke(self, event: dict[str, Any]) -> Any:
        context = LambdaContext(aws_request_id=str(uuid.uuid4()), deadline=time.monotonic() + self.timeout_s)
        future = self._pool.submit(self.handler, event, context)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            # Python cannot kill the thread; it finishes in the background and its result is dropped.
            raise HandlerTimeout(f"Task timed out after {self.timeout_s:.2f} seconds") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
