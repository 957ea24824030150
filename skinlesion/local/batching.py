"""Server-side request batching, as TF Serving does with SAGEMAKER_TFS_ENABLE_BATCHING.

Concurrent predict calls wait up to `timeout_s` for each other and run as one batch of at
most `max_batch` inputs: on a CPU one batch of 4 images costs about 2/3 of four single
calls, so under concurrency latency and throughput both improve. Results are the same as
unbatched. Unlike TF Serving, one bad input does not fail its batch-mates: a failed batch
is rerun input by input, so each request gets its own answer or error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

Rows = list[Any]  # one output row per input
RunBatch = Callable[[list[bytes]], dict[str, Rows]]  # inputs -> {output name: rows}

DEFAULT_MAX_BATCH = 8  # the container's SAGEMAKER_TFS_MAX_BATCH_SIZE default
DEFAULT_TIMEOUT_S = 0.001  # SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS default: 1000


class Batcher:
    """Runs `run` on batches gathered from concurrent `submit` calls, in one worker thread."""

    def __init__(
        self, run: RunBatch, *, max_batch: int = DEFAULT_MAX_BATCH, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._run, self.max_batch, self.timeout_s = run, max_batch, timeout_s
        self._queue: queue.Queue[tuple[list[bytes], Future[dict[str, Rows]]]] = queue.Queue()
        threading.Thread(target=self._loop, name="tfs-batching", daemon=True).start()

    def submit(self, inputs: list[bytes]) -> dict[str, Rows]:
        """Blocks until this request's rows are ready; raises what `run` raised for them."""
        future: Future[dict[str, Rows]] = Future()
        self._queue.put((inputs, future))
        return future.result()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            size = len(batch[0][0])
            while size < self.max_batch:
                try:
                    item = self._queue.get(timeout=self.timeout_s)
                except queue.Empty:
                    break
                batch.append(item)
                size += len(item[0])
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[list[bytes], Future[dict[str, Rows]]]]) -> None:
        inputs = [value for values, _ in batch for value in values]
        try:
            outputs = self._run(inputs)
        except Exception as err:  # noqa: BLE001 - handed to the waiting request(s)
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
