"""Kedro's private APIs as reprokit._compat.kedro uses them (fails first on a Kedro upgrade
that changes them)."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

from reprokit._compat.kedro import hook_manager, with_func


def double(x: int) -> int:
    return 2 * x


def triple(x: int) -> int:
    return 3 * x


class Recorder:
    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []

    @hook_impl
    def after_node_run(self, node: Any, outputs: dict[str, Any]) -> None:
        self.ran.append((node.name, dict(outputs)))


def test_a_runner_calls_the_hooks_of_the_hook_manager() -> None:
    recorder = Recorder()
    pipeline = Pipeline([node(double, "x", "y", name="double")])
    catalog = DataCatalog({"x": MemoryDataset(3)})
    SequentialRunner().run(pipeline, catalog, hook_manager([recorder, recorder]))
    assert recorder.ran == [("double", {"y": 6})]  # registered once, called once


def test_with_func_swaps_the_function_and_keeps_every_other_attribute() -> None:
    original = node(double, {"x": "a"}, "y", name="n", tags=["t"], namespace="ns", confirms="a")
    copy = with_func(original, triple)
    assert copy.func is triple and original.func is double
    for attribute in ("name", "inputs", "outputs", "tags", "namespace", "confirms"):
        assert getattr(copy, attribute) == getattr(original, attribute), attribute
    assert copy.run({"a": 2}) == {"y": 6}
