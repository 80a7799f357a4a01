"""Kedro project settings: the config comes from params.yaml (composed from conf/)."""

from reprokit.kedro_config import ReprokitConfigLoader
from reprokit.kedro_hooks import TrackingHooks

CONF_SOURCE = "conf"
CONFIG_LOADER_CLASS = ReprokitConfigLoader
HOOKS = (TrackingHooks(),)
