"""The tf.distribute strategy follows the SageMaker environment."""

from __future__ import annotations

import json

import pytest
from lesion_model.distribute import is_chief, strategy_name, tf_config_from_sagemaker


@pytest.mark.parametrize(
    ("hosts", "n_gpus", "expected"),
    [
        (["algo-1", "algo-2"], 1, "multi_worker"),
        (["algo-1", "algo-2"], 8, "multi_worker"),
        (["algo-1"], 4, "mirrored"),
        (["algo-1"], 1, "default"),
        (None, 0, "default"),  # a laptop: no SM_HOSTS at all
    ],
)
def test_strategy_from_sm_hosts_and_gpu_count(hosts, n_gpus, expected):
    env = {} if hosts is None else {"SM_HOSTS": json.dumps(hosts), "SM_CURRENT_HOST": hosts[0]}
    assert strategy_name(env, n_gpus=n_gpus) == expected


def test_tf_config_lists_every_host_and_this_workers_index():
    env = {"SM_HOSTS": '["algo-2", "algo-1"]', "SM_CURRENT_HOST": "algo-2"}
    config = tf_config_from_sagemaker(env)
    assert config["cluster"]["worker"] == ["algo-1:2222", "algo-2:2222"]
    assert config["task"] == {"type": "worker", "index": 1}


def test_only_the_first_host_is_chief():
    hosts = '["algo-1", "algo-2"]'
    assert is_chief({"SM_HOSTS": hosts, "SM_CURRENT_HOST": "algo-1"})
    assert not is_chief({"SM_HOSTS": hosts, "SM_CURRENT_HOST": "algo-2"})
    assert is_chief({})
