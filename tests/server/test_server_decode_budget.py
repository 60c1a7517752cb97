"""core/server/imaging.py's DecodeBudget: decodes share one memory budget, in arrival order, bounded in count."""
import asyncio

import pytest

from core.server.imaging import DecodeBudget, view_cost
from core.server.security import Refused


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_a_decode_larger_than_the_whole_budget_is_413_naming_both_sizes():
    budget = DecodeBudget(memory_bytes=100 << 20)
    cost = view_cost(15000, 11000, "1", "rgb", None)
    with pytest.raises(Refused) as e:
        budget.check(15000, 11000, cost, "image 'x.png'")
    assert e.value.status == 413 and "15000x11000" in e.value.reason and "100 MiB" in e.value.reason


def test_an_image_over_the_pixel_limit_is_413():
    with pytest.raises(Refused, match="at most 1,000 pixels") as e:
        DecodeBudget(max_pixels=1000).check(40, 30, 10, "image 'x.png'")
    assert e.value.status == 413


def test_reservations_never_exceed_the_budget_and_all_finish():
    budget = DecodeBudget(memory_bytes=100, max_concurrent=10)
    active, peak = [0], [0]

    async def decode(cost):
        async with budget.reserve(cost):
            active[0] += cost
            peak[0] = max(peak[0], active[0])
            await asyncio.sleep(0.01)
            active[0] -= cost
        return cost

    async def main():
        return await asyncio.gather(*(decode(c) for c in [60, 30, 50, 40, 100, 10, 70]))
    assert run(main()) == [60, 30, 50, 40, 100, 10, 70]
    assert peak[0] <= 100 and budget.peak_in_use <= 100 and budget.in_use == 0 and budget.running == 0


def test_at_most_max_concurrent_decodes_run_at_once():
    budget = DecodeBudget(memory_bytes=10**9, max_concurrent=2)
    running, peak = [0], [0]

    async def decode():
        async with budget.reserve(1):
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            await asyncio.sleep(0.01)
            running[0] -= 1

    async def main():
        await asyncio.gather(*(decode() for _ in range(6)))
    run(main())
    assert peak[0] == 2


def test_a_big_decode_is_not_overtaken_by_later_small_ones():
    budget = DecodeBudget(memory_bytes=100, max_concurrent=10)
    order = []

    async def decode(name, cost, hold):
        async with budget.reserve(cost):
            order.append(name)
            await asyncio.sleep(hold)

    async def main():
        first = asyncio.ensure_future(decode("first", 60, 0.05))
        await asyncio.sleep(0)
        big = asyncio.ensure_future(decode("big", 90, 0))
        await asyncio.sleep(0)
        small = asyncio.ensure_future(decode("small", 10, 0))
        await asyncio.gather(first, big, small)
    run(main())
    assert order == ["first", "big", "small"]


def test_a_wait_past_max_wait_is_503_with_retry_after_and_frees_its_place():
    budget = DecodeBudget(memory_bytes=100, max_wait=0.05)

    async def main():
        async with budget.reserve(100):
            with pytest.raises(Refused) as e:
                async with budget.reserve(50):
                    pass
        assert e.value.status == 503 and e.value.headers["Retry-After"]
        async with budget.reserve(100):  # nothing left behind by the refused one
            pass
    run(main())
    assert budget.in_use == 0 and budget._turns == []


def test_a_client_that_goes_away_while_waiting_leaves_no_reservation_behind():
    budget = DecodeBudget(memory_bytes=100)

    async def main():
        async with budget.reserve(100):
            waiter = asyncio.ensure_future(budget.reserve(50).__aenter__())
            await asyncio.sleep(0.01)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        assert budget.in_use == 0 and budget._turns == []
    run(main())
