"""Batches in threads: results in input order, a bounded number of items taken ahead,
errors raised at their item's turn."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.parallel import ordered_map


def test_results_come_in_input_order_whatever_finishes_first():
    def slow_on_even(n: int) -> int:
        time.sleep(0.02 if n % 2 == 0 else 0)
        return n * 10

    assert list(ordered_map(slow_on_even, range(9))) == [n * 10 for n in range(9)]


def test_items_are_taken_only_a_few_ahead_of_the_results():
    taken: list[int] = []

    def items():
        for n in range(20):
            taken.append(n)
            yield n

    results = ordered_map(lambda n: n, items(), workers=2)
    assert next(results) == 0
    # the first result needed two items in flight; none beyond them was read
    assert taken == [0, 1]
    assert list(results) == list(range(1, 20))


def test_an_error_is_raised_at_its_turn_and_later_items_are_not_started():
    started: list[int] = []
    lock = threading.Lock()

    def fail_on_three(n: int) -> int:
        with lock:
            started.append(n)
        if n == 3:
            raise ValueError("item 3")
        return n

    got = []
    with pytest.raises(ValueError, match="item 3"):
        for result in ordered_map(fail_on_three, range(100)):
            got.append(result)
    assert got == [0, 1, 2]
    assert max(started) <= 4  # at most one item beyond the failing one had started
