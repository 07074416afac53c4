from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from semcache.config import Settings
from semcache.embedding.batching import BatchOptions, MicroBatcher
from semcache.errors import ConfigError, Overloaded

pytestmark = pytest.mark.anyio


class Model:
    """A batch function that records its calls; ``gate`` holds each call until set."""

    def __init__(self, *, gated: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        if not gated:
            self.gate.set()
        self.error: Exception | None = None

    async def __call__(self, items: list[str]) -> Sequence[str]:
        self.calls.append(items)
        self.entered.set()
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return [item.upper() for item in items]


async def settle(turns: int = 20) -> None:
    """Let the event loop run every step that is ready, however slow the machine is."""
    for _ in range(turns):
        await asyncio.sleep(0)


def batcher(model: Model, **options: float) -> MicroBatcher[str, str]:
    return MicroBatcher(model, options=BatchOptions(**options))  # type: ignore[arg-type]


async def test_concurrent_calls_share_one_call() -> None:
    model = Model()
    batch = batcher(model)
    results = await asyncio.gather(*(batch([f"t{i}", f"u{i}"]) for i in range(10)))
    assert [list(r) for r in results] == [[f"T{i}", f"U{i}"] for i in range(10)]
    assert len(model.calls) == 1 and len(model.calls[0]) == 20
    assert (batch.stats.calls, batch.stats.requests, batch.stats.items) == (1, 10, 20)


async def test_calls_arriving_while_the_model_runs_form_the_next_batch() -> None:
    model = Model(gated=True)
    batch = batcher(model)
    first = asyncio.ensure_future(batch(["a"]))
    await model.entered.wait()
    later = [asyncio.ensure_future(batch([item])) for item in "bcd"]
    await settle()
    assert batch.queued == 3
    model.gate.set()
    assert [list(await task) for task in (first, *later)] == [["A"], ["B"], ["C"], ["D"]]
    assert model.calls == [["a"], ["b", "c", "d"]]


class ParallelModel(Model):
    """A gated batch function that also counts how many of its calls run at once."""

    def __init__(self) -> None:
        super().__init__(gated=True)
        self.running = 0
        self.most_running = 0

    async def __call__(self, items: list[str]) -> Sequence[str]:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            return await super().__call__(items)
        finally:
            self.running -= 1


async def test_with_concurrency_a_batch_starts_while_another_runs_but_no_more() -> None:
    model = ParallelModel()
    batch = MicroBatcher(model, options=BatchOptions(max_wait=0), concurrency=2)
    first = asyncio.ensure_future(batch(["a"]))
    await model.entered.wait()
    second = asyncio.ensure_future(batch(["b"]))
    await settle()
    assert model.calls == [["a"], ["b"]] and model.running == 2
    waiting = [asyncio.ensure_future(batch([item])) for item in "cde"]
    await settle()
    assert batch.queued == 3 and len(model.calls) == 2
    model.gate.set()
    assert [list(await task) for task in (first, second, *waiting)] == [[c] for c in "ABCDE"]
    assert model.calls[2:] == [["c", "d", "e"]]
    assert model.most_running == 2


async def test_without_concurrency_one_batch_runs_at_a_time() -> None:
    model = ParallelModel()
    batch = MicroBatcher(model, options=BatchOptions(max_wait=0))
    tasks = [asyncio.ensure_future(batch([item])) for item in "ab"]
    await model.entered.wait()
    await settle()
    assert model.running == 1
    model.gate.set()
    await asyncio.gather(*tasks)
    assert model.most_running == 1


def test_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="concurrency must be at least 1, got 0"):
        MicroBatcher(Model(), concurrency=0)


async def test_batches_hold_at_most_max_batch_items_and_never_split_a_call() -> None:
    model = Model()
    batch = batcher(model, max_batch=4)
    await asyncio.gather(*(batch([str(i)]) for i in range(10)), batch(["x", "y", "z"]))
    assert [len(call) for call in model.calls] == [4, 4, 2, 3]
    await batch(list("abcdef"))  # larger than max_batch: goes alone, whole
    assert model.calls[-1] == list("abcdef")


async def test_a_lone_caller_is_never_kept_waiting() -> None:
    model = Model()
    batch = batcher(model, max_wait=1.0)
    started = time.perf_counter()
    for item in "abc":
        await batch([item])
    assert time.perf_counter() - started < 0.5
    assert len(model.calls) == 3


async def test_under_concurrency_a_short_batch_waits_at_most_max_wait() -> None:
    model = Model()
    batch = batcher(model, max_wait=0.05)
    await asyncio.gather(batch(["a"]), batch(["b"]), batch(["c"]))  # the last batch had 3
    started = time.perf_counter()
    assert list(await batch(["d"])) == ["D"]  # waits for two more that never come
    waited = time.perf_counter() - started
    assert 0.04 <= waited < 1.0
    started = time.perf_counter()
    await batch(["e"])  # the previous batch had 1: no wait
    assert time.perf_counter() - started < 0.04


async def test_the_wait_ends_as_soon_as_the_batch_is_as_large_as_the_last() -> None:
    model = Model()
    batch = batcher(model, max_wait=1.0)
    await asyncio.gather(batch(["a"]), batch(["b"]))
    started = time.perf_counter()
    first = asyncio.ensure_future(batch(["c"]))
    await settle()
    await asyncio.gather(first, batch(["d"]))
    assert time.perf_counter() - started < 0.5
    assert model.calls[-1] == ["c", "d"]


async def test_a_failure_reaches_every_caller_of_the_batch_and_no_other() -> None:
    model = Model()
    model.error = ValueError("model broke")
    batch = batcher(model)
    results = await asyncio.gather(*(batch([str(i)]) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, ValueError) and str(r) == "model broke" for r in results)
    model.error = None
    assert list(await batch(["ok"])) == ["OK"]


async def test_a_wrong_number_of_results_is_an_error_for_every_caller() -> None:
    async def short(items: list[str]) -> Sequence[str]:
        return items[:-1]

    batch: MicroBatcher[str, str] = MicroBatcher(short)
    results = await asyncio.gather(batch(["a"]), batch(["b"]), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_a_caller_cancelled_while_queued_never_reaches_the_model() -> None:
    model = Model(gated=True)
    batch = batcher(model)
    first = asyncio.ensure_future(batch(["a"]))
    await model.entered.wait()
    dropped = asyncio.ensure_future(batch(["dropped"]))
    kept = asyncio.ensure_future(batch(["kept"]))
    await asyncio.sleep(0)
    dropped.cancel()
    model.gate.set()
    assert list(await first) == ["A"] and list(await kept) == ["KEPT"]
    assert model.calls == [["a"], ["kept"]]
    assert batch.queued == 0
    with pytest.raises(asyncio.CancelledError):
        await dropped


async def test_a_caller_cancelled_while_its_batch_runs_leaves_the_others_served() -> None:
    model = Model(gated=True)
    batch = batcher(model)
    tasks = [asyncio.ensure_future(batch([item])) for item in "abc"]
    await model.entered.wait()
    tasks[1].cancel()
    await asyncio.sleep(0)
    model.gate.set()
    assert list(await tasks[0]) == ["A"] and list(await tasks[2]) == ["C"]
    assert tasks[1].cancelled()
    assert list(await batch(["d"])) == ["D"]


async def test_a_full_queue_refuses_with_overloaded() -> None:
    model = Model(gated=True)
    batch = batcher(model, max_queue=2)
    running = asyncio.ensure_future(batch(["a"]))
    await model.entered.wait()
    queued = [asyncio.ensure_future(batch([item])) for item in "bc"]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded) as refused:
        await batch(["d"])
    assert refused.value.status_code == 503
    assert batch.stats.refused == 1
    model.gate.set()
    await asyncio.gather(running, *queued)
    assert list(await batch(["e"])) == ["E"]


async def test_a_call_larger_than_the_queue_is_taken_when_nothing_waits() -> None:
    model = Model()
    batch = batcher(model, max_queue=2)
    assert list(await batch(list("abcde"))) == list("ABCDE")


async def test_an_empty_call_does_not_reach_the_model() -> None:
    model = Model()
    assert list(await batcher(model)([])) == []
    assert model.calls == []


def test_the_batcher_survives_a_new_event_loop() -> None:
    model = Model()
    batch = batcher(model)

    async def call(item: str) -> list[str]:
        return list(await batch([item]))

    assert asyncio.run(call("a")) == ["A"]
    assert asyncio.run(call("b")) == ["B"]


@pytest.mark.parametrize(
    "options", [{"max_batch": 0}, {"max_wait": -1}, {"max_wait": 2}, {"max_queue": 0}]
)
def test_options_are_checked(options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        BatchOptions(**options)  # type: ignore[arg-type]


def test_settings_give_the_batch_options() -> None:
    settings = Settings(embedding_batch_size=8, embedding_batch_wait_ms=1.5)
    assert settings.batching == BatchOptions(max_batch=8, max_wait=0.0015, max_queue=4096)
    with pytest.raises(ConfigError, match="embedding_batch_wait_ms"):
        _ = Settings(embedding_batch_wait_ms=5000).batching
    with pytest.raises(ConfigError, match="embedding_queue_size"):
        _ = Settings(embedding_queue_size=0).batching
