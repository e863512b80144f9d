"""Reconnect delays: the delay generator alone, with the randomness injected."""

from __future__ import annotations

import random

import pytest

from queue_server.protocol.backoff import Backoff


def test_delays_double_up_to_the_cap_and_start_again_after_a_reset() -> None:
    b = Backoff(initial=1.0, cap=8.0, rng=lambda: 0.0, fast_for=0)
    assert [b.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    b.reset()
    assert b.next() == 1.0


def test_the_first_seconds_of_waiting_retry_at_the_first_delay_then_it_grows() -> None:
    """A restarted server is back within a second or two: clients keep trying every ``initial`` until then."""
    b = Backoff(initial=0.25, cap=2.0, rng=lambda: 0.0, fast_for=1.0)
    assert [b.next() for _ in range(9)] == [0.25, 0.25, 0.25, 0.25, 0.25, 0.5, 1.0, 2.0, 2.0]


def test_a_good_connection_makes_the_next_retry_fast_again() -> None:
    b = Backoff(initial=0.25, cap=2.0, rng=lambda: 0.0, fast_for=1.0)
    for _ in range(20):
        b.next()
    assert b.next() == 2.0
    b.reset()
    assert [b.next() for _ in range(4)] == [0.25] * 4


def test_jitter_spreads_each_delay_below_its_ceiling() -> None:
    assert Backoff(initial=1.0, cap=8.0, jitter=0.5, rng=lambda: 1.0).next() == 0.5
    b = Backoff(initial=0.5, cap=4.0, rng=random.Random(7).random, fast_for=0)
    got = [b.next() for _ in range(8)]
    for value, ceiling in zip(got, [0.5, 1, 2, 4, 4, 4, 4, 4]):
        assert ceiling / 2 <= value <= ceiling
    assert len({round(v, 6) for v in got}) == len(got)  # a hall's clients do not retry in step


def test_jitter_spreads_the_fast_retries_too() -> None:
    b = Backoff(initial=0.2, fast_for=2.0, rng=random.Random(3).random)
    got = [b.next() for _ in range(10)]
    assert all(0.1 <= value <= 0.2 for value in got)
    assert len({round(v, 6) for v in got}) == len(got)


def test_the_defaults_retry_fast_first_and_never_wait_over_half_a_minute() -> None:
    b = Backoff()
    first = [b.next() for _ in range(10)]  # within the first seconds of a restart
    assert all(0.1 <= value <= 0.2 for value in first)
    assert max(b.next() for _ in range(100)) <= 30.0
    for _ in range(1000):  # the attempt counter stops growing; the delay stays finite
        b.next()
    assert b.next() <= 30.0


@pytest.mark.parametrize("args", [(0.0, 1.0), (2.0, 1.0), (1.0, 2.0, 0.5), (1.0, 2.0, 2.0, 1.5)])
def test_nonsense_is_refused(args: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        Backoff(*args)
    with pytest.raises(ValueError):
        Backoff(fast_for=-1.0)
