"""Pick the tf.distribute strategy and precision from the SageMaker environment."""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

log = logging.getLogger(__name__)


def strategy_name(environ=None, n_gpus: int | None = None) -> str:
    """'multi_worker' when SM_HOSTS lists >1 host, 'mirrored' with >1 GPU, else 'default'."""
    environ = os.environ if environ is None else environ
    hosts = json.loads(environ.get("SM_HOSTS", "[]") or "[]")
    if len(hosts) > 1:
        return "multi_worker"
    if n_gpus is None:
        n_gpus = len(tf.config.list_physical_devices("GPU"))
    return "mirrored" if n_gpus > 1 else "default"


def make_strategy(environ=None) -> tf.distribute.Strategy:
    """The strategy for this process. Multi-worker reads TF_CONFIG, built here from SM_* if absent."""
    environ = os.environ if environ is None else environ
    name = strategy_name(environ)
    log.info("distribution strategy: %s", name)
    if name == "multi_worker":
        if "TF_CONFIG" not in environ:
            os.environ["TF_CONFIG"] = json.dumps(tf_config_from_sagemaker(environ))
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def tf_config_from_sagemaker(environ) -> dict:
    """TF_CONFIG for MultiWorkerMirroredStrategy from SM_HOSTS / SM_CURRENT_HOST."""
    hosts = sorted(json.loads(environ["SM_HOSTS"]))
    current = environ["SM_CURRENT_HOST"]
    port = environ.get("SKINLESION_WORKER_PORT", "2222")
    return {
        "cluster": {"worker": [f"{host}:{port}" for host in hosts]},
        "task": {"type": "worker", "index": hosts.index(current)},
    }


def is_chief(environ=None) -> bool:
    """Only the first host writes the model (the others write to a scratch dir)."""
    environ = os.environ if environ is None else environ
    hosts = sorted(json.loads(environ.get("SM_HOSTS", "[]") or "[]"))
    return len(hosts) <= 1 or environ.get("SM_CURRENT_HOST") == hosts[0]


def use_mixed_precision_if_gpu() -> bool:
    """float16 compute on GPUs (tensor cores); CPUs stay float32, where float16 is slower."""
    if tf.config.list_physical_devices("GPU"):
        tf.keras.mixed_precision.set_global_policy("mixed_float16")
        return True
    return False
