"""Client-side request and token rate limits as token buckets.

The request bucket holds a single permit, so requests are evenly spaced; the token bucket
holds one second's worth (at least one request's estimate). Traffic is smoothed rather
than sent in a minute-sized burst that a provider would answer with 429.
"""

from __future__ import annotations

import asyncio
import time

from ometer_tui.core.bench.plan import RateLimit


class TokenBucket:
    def __init__(self, per_minute: float, capacity: float | None = None) -> None:
        self.rate_per_s = per_minute / 60.0
        self.capacity = max(1.0, self.rate_per_s if capacity is None else capacity)
        self._level = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._level = min(self.capacity, self._level + (now - self._updated) * self.rate_per_s)
        self._updated = now

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until ``amount`` permits are available (capped at capacity), then take them."""
        amount = min(amount, self.capacity)
        async with self._lock:  # first come, first served
            self._refill()
            while self._level < amount:
                await asyncio.sleep((amount - self._level) / self.rate_per_s)
                self._refill()
            self._level -= amount

    def debit(self, amount: float) -> None:
        """Take permits after the fact (actual usage above the estimate); may go negative."""
        self._refill()
        self._level -= amount


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits shared by every model of a run."""

    def __init__(self, limit: RateLimit) -> None:
        rpm, tpm = limit.requests_per_minute, limit.tokens_per_minute
        self.requests = TokenBucket(rpm, capacity=1.0) if rpm else None
        self.tokens = TokenBucket(tpm) if tpm else None

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    async def acquire(self, estimated_tokens: int) -> float:
        """Wait for a permit; returns the seconds waited (recorded as ``queue_s``)."""
        if not self.active:
            return 0.0
        start = time.perf_counter()
        if self.requests is not None:
            await self.requests.acquire(1.0)
        if self.tokens is not None:
            await self.tokens.acquire(float(estimated_tokens))
        return time.perf_counter() - start

    def settle(self, estimated_tokens: int, actual_tokens: int | None) -> None:
        """Charge the token bucket for tokens used beyond the estimate."""
        if self.tokens is not None and actual_tokens is not None:
            extra = actual_tokens - estimated_tokens
            if extra > 0:
                self.tokens.debit(float(extra))
