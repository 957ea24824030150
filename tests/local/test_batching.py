"""Request batching: concurrent calls share one model run, each gets its own rows or error."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from skinlesion.local.batching import Batcher


class FakeModel:
    """Doubles each input's length; refuses the input b"bad" (failing the whole run, like a graph)."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []
        self.gate = threading.Event()

    def __call__(self, inputs: list[bytes]) -> dict[str, list]:
        self.gate.wait(5)  # hold the first run so the others queue up behind it
        self.batch_sizes.append(len(inputs))
        if b"bad" in inputs:
            raise ValueError("undecodable input")
        return {"probabilities": [[len(v), 2 * len(v)] for v in inputs]}


def test_concurrent_requests_are_batched_and_answered_with_their_own_rows():
    model = FakeModel()
    batcher = Batcher(model, max_batch=8, timeout_s=0.05)
    inputs = [[b"x" * n] for n in range(1, 7)]
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(batcher.submit, values) for values in inputs]
        model.gate.set()
        results = [f.result(timeout=10) for f in futures]
    assert results == [{"probabilities": [[n, 2 * n]]} for n in range(1, 7)]
    assert max(model.batch_sizes) > 1 and sum(model.batch_sizes) == 6


def test_a_bad_input_fails_only_its_own_request():
    model = FakeModel()
    batcher = Batcher(model, max_batch=8, timeout_s=0.05)
    with ThreadPoolExecutor(3) as pool:
        good = [pool.submit(batcher.submit, [b"ab"]), pool.submit(batcher.submit, [b"abc"])]
        bad = pool.submit(batcher.submit, [b"bad"])
        model.gate.set()
        answers = [f.result(timeout=10) for f in good]
        assert answers == [{"probabilities": [[2, 4]]}, {"probabilities": [[3, 6]]}]
        with pytest.raises(ValueError, match="undecodable"):
            bad.result(timeout=10)


def test_a_request_with_several_inputs_keeps_them_together():
    model = FakeModel()
    model.gate.set()
    batcher = Batcher(model, max_batch=3, timeout_s=0.001)
    assert batcher.submit([b"a", b"bb", b"ccc"]) == {"probabilities": [[1, 2], [2, 4], [3, 6]]}
