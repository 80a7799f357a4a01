"""Structured logging for reprokit and the libraries under it, as console text or JSON.

One setting switches to JSON: `REPROKIT_LOG_FORMAT=json` (default: `console`). Kedro's and
DVC's stdlib log records go through the same formatter, so a JSON run is JSON throughout.
Every event has one schema: `event` (its name, first in a JSON line), `level`, `logger`,
`timestamp` (ISO 8601, UTC) and its own fields. Inside a host that owns the process's
logging (`bentoml serve`), `configure_app_logging` gives reprokit's loggers that schema and
leaves the host's own logging alone.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

LOG_FORMAT_ENV = "REPROKIT_LOG_FORMAT"
LOG_LEVEL_ENV = "REPROKIT_LOG_LEVEL"
LOG_FORMATS = ("console", "json")

# Routine lines of the libraries under reprokit, by logger and message prefix: shown only at
# REPROKIT_LOG_LEVEL=DEBUG. Measured: 104 of a 3-job sweep's 243 lines were Kedro's per-dataset
# "Loading/Saving data"; every stage repeated Kedro's --async hint; every tracked run printed
# MLflow's pip warning, which is meaningless in a uv venv (no pip, by design).
ROUTINE_CHATTER: dict[str, tuple[str, ...]] = {
    "kedro.io.data_catalog": ("Loading data from", "Saving data to"),
    "kedro.runner.sequential_runner": ("Using synchronous mode",),
    "kedro.runner.parallel_runner": ("Using synchronous mode",),
    "kedro.runner.thread_runner": ("Using synchronous mode",),
    "mlflow.utils.environment": ("Failed to resolve installed pip version",),
    # Feast re-reads its registry file before each step of a materialization: 7 lines a run.
    "feast.infra.registry.registry": ("Registry cache expired",),
}


class _DropRoutineChatter(logging.Filter):
    """Drops a logger's routine records unless the root logger is at DEBUG."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        return not str(record.msg).startswith(self.prefixes)


def _quiet_routine_chatter() -> None:
    for name, prefixes in ROUTINE_CHATTER.items():
        library_logger = logging.getLogger(name)
        # Idempotent: configure_logging runs once per command, sometimes twice.
        library_logger.filters[:] = [
            kept for kept in library_logger.filters if not isinstance(kept, _DropRoutineChatter)
        ]
        library_logger.addFilter(_DropRoutineChatter(prefixes))


def _chosen_format(log_format: str | None) -> str:
    chosen = (log_format or os.environ.get(LOG_FORMAT_ENV, "console")).lower()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV} must be 'console' or 'json', got {chosen!r}")
    return chosen


def _event_first(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The event's name leads its JSON line, where a reader (or grep) looks for it first."""
    return {"event": event_dict.pop("event", None), **event_dict}


def _shared_processors() -> list[Any]:
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _handler(chosen: str) -> logging.Handler:
    """A stderr handler rendering structlog's events and stdlib records alike."""
    import structlog

    renderer: list[Any] = (
        [_event_first, structlog.processors.JSONRenderer(separators=(",", ":"))]
        if chosen == "json"
        else [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    )
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                *renderer,
            ],
        )
    )
    return handler


def _kedro_keeps_our_logging() -> bool:
    """Whether importing Kedro later leaves the logging configured here alone: it is
    imported already, or it will apply reprokit's empty incremental config
    (`reprokit.core.env.disable_telemetry` points KEDRO_LOGGING_CONFIG at it unless the
    user set their own)."""
    if "kedro.framework.project" in sys.modules:
        return True
    # The file `reprokit.core.env.KEDRO_LOGGING_CONFIG` names (the floors below logs do not
    # import it): this package's own kedro_logging.yml.
    ours = Path(__file__).resolve().with_name("kedro_logging.yml")
    return os.environ.get("KEDRO_LOGGING_CONFIG") == str(ours)


def configure_logging(log_format: str | None = None, level: str | None = None) -> None:
    """Route all logging through structlog's formatter; idempotent."""
    if not _kedro_keeps_our_logging():
        # Kedro applies the logging config it is given when kedro.framework.project is
        # first imported; import it now so that ours, applied below, is the one that stays.
        import kedro.framework.project  # noqa: F401

    handler = _handler(_chosen_format(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get(LOG_LEVEL_ENV, "INFO")).upper())
    # Kedro installs its own (rich) handlers on its loggers; ours must be the only one
    # (and reprokit's own go to the root again after a `configure_app_logging`).
    for name in ("kedro", "dvc", "hydra", "reprokit"):
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
    _quiet_routine_chatter()


def configure_app_logging(log_format: str | None = None) -> None:
    """reprokit's own loggers only, at INFO, through the same formatter; idempotent.

    For a host that configures the process's logging itself (BentoML sets the root logger to
    WARNING with its own format in each worker): reprokit's events keep the one schema
    without reformatting the host's lines, and they stop at the `reprokit` logger so that
    the host's handlers do not print them a second time.
    """
    logger = logging.getLogger("reprokit")
    logger.handlers[:] = [_handler(_chosen_format(log_format))]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def get_logger(name: str) -> Any:
    import structlog

    return structlog.stdlib.get_logger(name)
