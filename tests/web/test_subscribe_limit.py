"""The subscribe form's limit (warroom.web.status_subscribers.SubscribeLimit): per client address and overall, in a
sliding window, with the wait until the next request is allowed, and a bounded memory of clients."""

from __future__ import annotations

from warroom.web.status_subscribers import SubscribeLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_share_in_the_window_then_waits_for_the_oldest_to_leave_it() -> None:
    clock = Clock()
    limit = SubscribeLimit(per_client=2, overall=100, window=60, clock=clock)
    assert limit.wait("10.0.0.1") == 0
    clock.now += 10
    assert limit.wait("10.0.0.1") == 0
    clock.now += 5
    assert limit.wait("10.0.0.1") == 45  # the first leaves the window 60 s after it came
    assert limit.wait("10.0.0.2") == 0  # another client is not held up
    clock.now += 45
    assert limit.wait("10.0.0.1") == 0
    assert limit.wait("10.0.0.1") == 10  # refused requests are not counted: the second still leaves at +70


def test_all_clients_together_are_bounded_too() -> None:
    clock = Clock()
    limit = SubscribeLimit(per_client=5, overall=3, window=60, clock=clock)
    assert [limit.wait(f"10.0.0.{n}") for n in range(3)] == [0, 0, 0]
    clock.now += 20
    assert limit.wait("10.0.0.9") == 40
    clock.now += 40
    assert limit.wait("10.0.0.9") == 0


def test_the_memory_of_clients_is_bounded_forgetting_the_least_recently_seen() -> None:
    clock = Clock()
    limit = SubscribeLimit(per_client=1, overall=1000, window=60, max_clients=2, clock=clock)
    assert limit.wait("a") == 0 and limit.wait("b") == 0
    assert limit.wait("a") > 0  # a is remembered, and now the most recently seen
    assert limit.wait("c") == 0  # b is forgotten to make room
    assert limit.wait("a") > 0 and limit.wait("b") == 0
