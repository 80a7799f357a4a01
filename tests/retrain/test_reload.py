"""`check_once`, the champion watcher's step: switch only to a fully loaded new model, keep
the old one on any failure."""

from __future__ import annotations

from reprokit.serving.reload import Outcome, Reload, check_once


class Service:
    """What the watcher sees of a service: the tag it serves and what it was switched to."""

    def __init__(
        self, serving: str, champion: str, loads: bool = True, switched: Outcome = "switched"
    ) -> None:
        self.serving = serving
        self.champion = champion
        self.loads = loads
        self.switched = switched
        self.loaded: list[str] = []
        self.recorded: list[Outcome] = []

    def load(self, tag: str) -> str:
        if not self.loads:
            raise OSError(f"{tag}: model.txt is truncated")
        self.loaded.append(tag)
        return f"model {tag}"

    def switch(self, model: str) -> Outcome:
        self.serving = model.removeprefix("model ")
        return self.switched

    def resolve(self) -> str:
        return self.champion

    def reload(self) -> Reload[str]:
        return Reload(
            current=lambda: self.serving,
            resolve=self.resolve,
            load=self.load,
            switch=self.switch,
            record=self.recorded.append,
        )


def test_an_unchanged_champion_loads_nothing() -> None:
    service = Service("m:1", "m:1")
    assert check_once(service.reload()) == "unchanged"
    assert service.loaded == [] and service.recorded == []


def test_a_new_champion_is_loaded_then_switched_to() -> None:
    service = Service("m:1", "m:2")
    assert check_once(service.reload()) == "switched"
    assert (service.serving, service.loaded, service.recorded) == ("m:2", ["m:2"], ["switched"])


def test_a_canary_start_is_counted_apart_from_a_switch() -> None:
    service = Service("m:1", "m:2", switched="canary_started")
    assert check_once(service.reload()) == "canary_started"
    assert service.recorded == ["canary_started"]


def test_a_load_failure_keeps_serving_the_old_model() -> None:
    service = Service("m:1", "m:2", loads=False)
    assert check_once(service.reload()) == "failed"
    assert (service.serving, service.recorded) == ("m:1", ["failed"])


def test_a_registry_failure_keeps_serving_the_old_model() -> None:
    service = Service("m:1", "m:2")

    def unreachable() -> str:
        raise ConnectionError("registry down")

    reload = service.reload()
    assert (
        check_once(Reload(reload.current, unreachable, reload.load, reload.switch, reload.record))
        == "failed"
    )
    assert service.serving == "m:1"
