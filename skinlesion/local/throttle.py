"""API Gateway's per-method throttling for the local gateway: one token bucket per method.

The deployed stage gives each method its own limit (stacks.config.ApiSettings.limit_of: the
public routes, POST /predict and GET /model their own, the rest the stage default); a bucket
holds `burst` tokens and refills at `rate` per second, and a request that finds it empty is
refused with 429 before any token check or handler work. What this does not model: the
account-wide regional limit (10,000 requests per second) and WAF's per-IP rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import lesion_contract as contract
from stacks.config import ApiSettings


class TokenBucket:
    """`burst` requests at once, then `rate` per second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._at = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class MethodThrottles:
    """One bucket per route of the contract, sized as the stage sizes it."""

    def __init__(self, settings: ApiSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._buckets = {
            (route.path, route.method): TokenBucket(*settings.limit_of(route.path, route.method), clock=clock)
            for route in contract.ROUTES
        }

    def admit(self, path: str, method: str) -> bool:
        bucket = self._buckets.get((path, method))
        return bucket is None or bucket.take()
