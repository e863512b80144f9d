"""Token buckets with a clock the test moves."""

from __future__ import annotations

import pytest

from queue_server.core.config import Limits
from queue_server.service.limits import Bucket, Issuing, Limiter, Rate, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_then_one_token_per_interval() -> None:
    b = Bucket(Rate(per_minute=6, burst=3), 0.0)
    assert [b.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(0.0) == pytest.approx(10.0)
    assert b.take(4.0) == pytest.approx(6.0)  # a refusal takes nothing
    assert b.take(10.0) == 0.0 and b.take(10.0) == pytest.approx(10.0)
    assert b.take(1000.0) == 0.0 and b.tokens == pytest.approx(2.0)  # refills to the burst, no further


def test_a_limiter_keeps_sources_apart_and_forgets_full_buckets() -> None:
    clock = Clock()
    lim = Limiter(Rate(per_minute=60, burst=1), clock, max_sources=3)
    assert lim.take("a") == 0.0 and lim.take("a") > 0 and lim.take("b") == 0.0
    assert lim.wait("a") > 0 and lim.wait("never-seen") == 0.0
    clock.now += 5
    for source in "cdefg":  # a flood of new sources: memory stays bounded
        lim.take(source)
    assert len(lim) <= 3


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Rate(per_minute=0, burst=1)
    with pytest.raises(ValueError):
        Rate(per_minute=1, burst=0)
    assert retry_after(0.2) == 1 and retry_after(9.01) == 10


def test_issuing_takes_nothing_when_one_bucket_refuses() -> None:
    clock = Clock()
    issuing = Issuing(Limits(kiosk_burst=4, address_burst=2), clock)
    assert issuing.admit(token="t1", address="10.0.0.1", phone_session=None, phone=False) is None
    assert issuing.admit(token="t1", address="10.0.0.1", phone_session=None, phone=False) is None
    hit = issuing.admit(token="t1", address="10.0.0.1", phone_session=None, phone=False)
    assert hit is not None and hit.source == "address" and hit.key == "10.0.0.1"
    # The kiosk's own bucket was not drawn by the refused ticket: two left, then it is the kiosk that must wait.
    assert [issuing.admit(token="t1", address="10.0.0.2", phone_session=None, phone=False) for _ in range(2)] == [None] * 2
    again = issuing.admit(token="t1", address="10.0.0.3", phone_session=None, phone=False)
    assert again is not None and again.source == "kiosk"
    assert issuing.first_report(hit) is True and issuing.first_report(hit) is False
    clock.now += 3600
    assert issuing.first_report(hit) is True
