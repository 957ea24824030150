"""Server-side request batching, as TF Serving does with SAGEMAKER_TFS_ENABLE_BATCHING.

Concurrent predict calls wait up to `timeout_s` for each other and run as one batch of at
most `max_batch` inputs: on a CPU one batch of 4 images costs about 2/3 of four single
calls, so under concurrency latency and throughput both improve. Results are the same as
unbatched. Unlike TF Serving, one bad input does not fail its batch-mates: a failed batch
is rerun input by input, so each request gets its own answer or error.

The limits are TF Serving's (its shared batch scheduler, as the SageMaker container
configures it in `tfs_utils.create_batching_config`): a request of more inputs than
`max_batch` is refused with `BatchTooLarge` (InvalidArgument, HTTP 400 from TF Serving),
and one that would open a batch beyond `max_enqueued_batches` waiting batches is refused
at once with `QueueFull` (Unavailable, HTTP 503), both with TF Serving's own messages.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

Rows = list[Any]  # one output row per input
RunBatch = Callable[[list[bytes]], dict[str, Rows]]  # inputs -> {output name: rows}

DEFAULT_MAX_BATCH = 8  # the container's SAGEMAKER_TFS_MAX_BATCH_SIZE default
DEFAULT_TIMEOUT_S = 0.001  # SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS default: 1000
# SAGEMAKER_TFS_NUM_BATCH_THREADS and _MAX_ENQUEUED_BATCHES defaults on a real-time endpoint:
# the number of CPUs (batches run that many at once; that many more may wait).
DEFAULT_NUM_BATCH_THREADS = os.cpu_count() or 1
DEFAULT_MAX_ENQUEUED_BATCHES = os.cpu_count() or 1


class BatchTooLarge(ValueError):
    """One request holds more inputs than a batch may (TF Serving: InvalidArgument -> 400)."""

    status = 400

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"Task size {size} is larger than maximum input batch size {limit}")


class QueueFull(RuntimeError):
    """Every batch slot is taken; the request is refused at once (TF Serving: Unavailable -> 503)."""

    status = 503

    def __init__(self, enqueued: int, limit: int) -> None:
        super().__init__(
            "The batch scheduling queue to which this task was submitted is full; currently "
            f"{enqueued} batches enqueued and max_enqueued_batches is {limit}"
        )


class Batcher:
    """Runs `run` on batches gathered from concurrent `submit` calls, in `threads` worker threads."""

    def __init__(
        self,
        run: RunBatch,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_enqueued_batches: int = DEFAULT_MAX_ENQUEUED_BATCHES,
        threads: int = DEFAULT_NUM_BATCH_THREADS,
    ) -> None:
        self._run, self.max_batch, self.timeout_s = run, max_batch, timeout_s
        self.max_enqueued_batches = max_enqueued_batches
        self._queue: queue.Queue[tuple[list[bytes], Future[dict[str, Rows]]]] = queue.Queue()
        self._waiting = 0  # inputs queued and not yet taken into a batch
        self._lock = threading.Lock()
        for n in range(max(1, threads)):
            threading.Thread(target=self._loop, name=f"tfs-batching-{n}", daemon=True).start()

    @property
    def waiting_inputs(self) -> int:
        """Inputs queued and not yet taken into a running batch."""
        with self._lock:
            return self._waiting

    def submit(self, inputs: list[bytes]) -> dict[str, Rows]:
        """Blocks until this request's rows are ready; raises what `run` raised for them.

        Raises BatchTooLarge or QueueFull before queueing, as TF Serving's scheduler does.
        """
        if len(inputs) > self.max_batch:
            raise BatchTooLarge(len(inputs), self.max_batch)
        future: Future[dict[str, Rows]] = Future()
        with self._lock:
            self._admit(len(inputs))
            self._waiting += len(inputs)
            self._queue.put((inputs, future))
        return future.result()

    def _admit(self, size: int) -> None:
        # TF's check: a task that does not fit the open batch needs a new one, refused when
        # max_enqueued_batches batches already wait. Batches here are the waiting inputs
        # packed max_batch at a time, the last one being the open batch.
        enqueued = max(1, -(-self._waiting // self.max_batch))
        open_size = self._waiting - (enqueued - 1) * self.max_batch
        if open_size + size > self.max_batch and enqueued >= self.max_enqueued_batches:
            raise QueueFull(enqueued, self.max_enqueued_batches)

    def _take(self, timeout: float | None) -> tuple[list[bytes], Future[dict[str, Rows]]]:
        item = self._queue.get(timeout=timeout)
        with self._lock:
            self._waiting -= len(item[0])
        return item

    def _loop(self) -> None:
        while True:
            batch = [self._take(None)]
            size = len(batch[0][0])
            while size < self.max_batch:
                try:
                    # Peek-free: an item that would overflow the batch starts the next one.
                    item = self._take(self.timeout_s)
                except queue.Empty:
                    break
                if size + len(item[0]) > self.max_batch:
                    self._run_batch(batch)
                    batch, size = [item], len(item[0])
                    continue
                batch.append(item)
                size += len(item[0])
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[list[bytes], Future[dict[str, Rows]]]]) -> None:
        inputs = [value for values, _ in batch for value in values]
        try:
            outputs = self._run(inputs)
        except Exception as err:  # handed to the waiting request(s)
            if len(batch) == 1:
                batch[0][1].set_exception(err)
            else:
                for item in batch:  # find whose input failed; the others still get answers
                    self._run_batch([item])
            return
        start = 0
        for values, future in batch:
            end = start + len(values)
            future.set_result({name: rows[start:end] for name, rows in outputs.items()})
            start = end
