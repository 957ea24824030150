"""The batcher's limits are TF Serving's: no batch above max_batch, a bounded queue, TF's own messages.

TF Serving's shared batch scheduler (tensorflow/core/kernels/batching_util/
shared_batch_scheduler.h, `ValidateBatchTaskQueueCapacity`, as the SageMaker container
configures it without large-batch splitting): a task larger than the batch size is
InvalidArgument, and a task that needs a new batch while max_enqueued_batches wait is
Unavailable ("queue ... is full"), refused at once rather than queued.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from skinlesion.local.batching import Batcher, BatchTooLarge, QueueFull


class GatedModel:
    """Echoes each input's length; holds every run until `gate` opens; records batch sizes."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []
        self.gate = threading.Event()
        self.running = threading.Event()
        self.started = 0  # runs begun (and maybe held at the gate)
        self._lock = threading.Lock()

    def __call__(self, inputs: list[bytes]) -> dict[str, list]:
        with self._lock:
            self.started += 1
        self.running.set()
        self.gate.wait(10)
        self.batch_sizes.append(len(inputs))
        return {"probabilities": [[len(v), 0] for v in inputs]}


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the batcher never reached the expected state"
        time.sleep(0.005)


def test_a_request_larger_than_a_batch_is_refused_with_tf_servings_message():
    model = GatedModel()
    model.gate.set()
    batcher = Batcher(model, max_batch=8, timeout_s=0.001, threads=1)

    with pytest.raises(BatchTooLarge) as caught:
        batcher.submit([b"x"] * 9)

    assert str(caught.value) == "Task size 9 is larger than maximum input batch size 8"
    assert caught.value.status == 400
    assert model.batch_sizes == []  # refused before anything ran
    assert batcher.submit([b"x"] * 8) == {"probabilities": [[1, 0]] * 8}


def test_requests_are_never_merged_beyond_the_batch_size():
    model = GatedModel()
    batcher = Batcher(model, max_batch=4, timeout_s=0.05, max_enqueued_batches=100, threads=1)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(batcher.submit, [b"abc"] * 3) for _ in range(6)]
        model.gate.set()
        answers = [f.result(timeout=10) for f in futures]
    assert answers == [{"probabilities": [[3, 0]] * 3}] * 6
    assert sum(model.batch_sizes) == 18 and max(model.batch_sizes) <= 4


def test_a_full_queue_refuses_at_once_and_the_queued_requests_still_get_answers():
    # GIVEN one batch running (held) and a full batch waiting, with room for one waiting batch
    model = GatedModel()
    batcher = Batcher(model, max_batch=2, timeout_s=0.001, max_enqueued_batches=1, threads=1)
    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(batcher.submit, [b"a"])
        assert model.running.wait(5)
        waiting = [pool.submit(batcher.submit, [b"bb"]), pool.submit(batcher.submit, [b"ccc"])]
        _wait_for(lambda: batcher.waiting_inputs == 2)

        # WHEN one more request arrives, THEN it is refused at once with TF Serving's Unavailable text
        started = time.monotonic()
        with pytest.raises(QueueFull) as caught:
            batcher.submit([b"dddd"])
        assert time.monotonic() - started < 1
        assert str(caught.value) == (
            "The batch scheduling queue to which this task was submitted is full; "
            "currently 1 batches enqueued and max_enqueued_batches is 1"
        )
        assert caught.value.status == 503

        # AND the requests already admitted are answered once the model is free
        model.gate.set()
        assert running.result(timeout=10) == {"probabilities": [[1, 0]]}
        assert [f.result(timeout=10) for f in waiting] == [
            {"probabilities": [[2, 0]]},
            {"probabilities": [[3, 0]]},
        ]
    assert batcher.submit([b"e"]) == {"probabilities": [[1, 0]]}  # room again


def test_batches_run_on_as_many_threads_as_configured():
    # TF Serving runs num_batch_threads batches at once (the container: one per CPU).
    model = GatedModel()
    batcher = Batcher(model, max_batch=1, timeout_s=0.001, max_enqueued_batches=10, threads=3)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(batcher.submit, [b"x"]) for _ in range(3)]
        _wait_for(lambda: model.started == 3)  # three batches running at once, none waiting
        model.gate.set()
        assert [f.result(timeout=10) for f in futures] == [{"probabilities": [[1, 0]]}] * 3
