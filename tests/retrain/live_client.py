"""A client that sends requests to a running service the whole time a test changes its
model, keeping every answer; and a reader of /metrics samples."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from tests.support.serving import API_KEY, predict


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (a transport error)
    version: str | None  # x-reprokit-model-version
    role: str | None  # x-reprokit-model-role


class Client:
    """Sends requests over and over on a thread: each request carries the next of `bodies`
    (chunks of records) and the next of `keys` (API keys: callers, for sticky routing)."""

    def __init__(
        self,
        url: str,
        bodies: Sequence[list[dict[str, Any]]],
        keys: Sequence[str] = (API_KEY,),
    ) -> None:
        self.url = url
        self.bodies = bodies
        self.keys = keys
        self.answers: list[Answer] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        requests = zip(itertools.cycle(self.bodies), itertools.cycle(self.keys), strict=False)
        for records, key in requests:
            if self.stopped.is_set():
                return
            try:
                response = predict(self.url, {"records": records}, key)
                headers = response.headers
                self.answers.append(
                    Answer(
                        response.status_code,
                        headers.get("x-reprokit-model-version"),
                        headers.get("x-reprokit-model-role"),
                    )
                )
            except httpx.TransportError as error:
                self.answers.append(Answer(0, type(error).__name__, None))

    def versions(self) -> list[str | None]:
        return [answer.version for answer in self.answers]

    def statuses(self) -> set[int]:
        return {answer.status for answer in self.answers}


def metric(text: str, name: str, *labels: str) -> float | None:
    """The value of the sample `name{...}` whose labels include each of `labels`."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(label in line for label in labels):
            return float(line.rsplit(" ", 1)[1])
    return None
