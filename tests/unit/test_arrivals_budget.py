"""--max-requests: the budget splits over the workers like the open-loop rate, summing to exactly N."""

from loadkit.locust.clock import RequestBudget
from loadkit.settings import Settings


def test_the_shares_of_every_worker_add_up_to_the_total():
    for total in (1, 7, 100, 20_000):
        for count in (1, 2, 3, 7):
            shares = [RequestBudget.share(total, i, count) for i in range(count)]
            assert sum(shares) == total and max(shares) - min(shares) <= 1


def test_a_process_starts_its_share_and_then_refuses():
    budget = RequestBudget()
    s = Settings(max_requests=5)
    taken = [budget.take(s, 1, 2) for _ in range(4)]
    assert taken == [True, True, False, False]  # worker 1 of 2 owns 5 // 2 = 2
    assert budget.spent(s, 1, 2)
    unlimited = RequestBudget()
    assert all(unlimited.take(Settings(), None, 1) for _ in range(1000)) and not unlimited.spent(Settings(), None, 1)
