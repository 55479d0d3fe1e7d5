"""appliance.background: a service's loop runs once however often it is started, and stop
leaves nothing running."""

from __future__ import annotations

import asyncio
import threading

from appliance.background import BackgroundTask, BackgroundThread


def test_start_twice_runs_one_loop_and_stop_cancels_it() -> None:
    runs: list[int] = []
    cancelled = asyncio.Event()

    async def loop() -> None:
        runs.append(1)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def scenario() -> None:
        task = BackgroundTask("probe")
        task.start(loop)
        task.start(loop)
        await asyncio.sleep(0)
        assert task.running and runs == [1]
        await task.stop()
        assert cancelled.is_set() and not task.running
        await task.stop()  # stopping a stopped task is fine
        task.start(loop)  # and it can start again
        await asyncio.sleep(0)
        assert runs == [1, 1]
        await task.stop()

    asyncio.run(scenario())


def test_a_loop_that_ended_by_itself_is_not_running() -> None:
    async def scenario() -> None:
        task = BackgroundTask("once")

        async def once() -> None:
            return None

        task.start(once)
        await asyncio.sleep(0.01)
        assert not task.running
        await task.stop()

    asyncio.run(scenario())


def test_a_thread_starts_once_and_stop_wakes_and_joins_it() -> None:
    entered = threading.Semaphore(0)
    wake = threading.Event()
    thread = BackgroundThread("probe")

    def loop() -> None:
        entered.release()
        while not thread.stopping.is_set():
            wake.wait(3600)  # waits on something else than `stopping`
            wake.clear()

    thread.start(loop)
    thread.start(loop)
    assert entered.acquire(timeout=5) and thread.running
    thread.stop(5, wake=wake.set)
    assert not thread.running
    assert not entered.acquire(timeout=0.2)  # the second start ran no second loop
    thread.start(loop)  # and it can start again
    assert entered.acquire(timeout=5) and thread.running
    thread.stop(5, wake=wake.set)
    assert not thread.running
