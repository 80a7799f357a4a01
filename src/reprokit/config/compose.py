"""Compose conf/ with Hydra, validate it, and write/check the generated params.yaml."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reprokit.config.conf_files import check_defaults_cycle
from reprokit.config.errors import explain_lines, report
from reprokit.config.models import ReprokitConfig
from reprokit.config.user_params import check_node_functions, check_user_params
from reprokit.core.names import PARAMS_FILE
from reprokit.core.yaml_text import load_yaml
from reprokit.errors import ConfigError, PipelineSpecError, StaleFileError

CONF_DIR = "conf"
PARAMS_HEADER = ""  # DVC's Hydra composition writes no header; keep the files byte-identical.


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding `conf/config.yaml`."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONF_DIR / "config.yaml").is_file():
            return candidate
    raise ConfigError(
        f"no reprokit project at or above {here}: expected a folder with conf/config.yaml"
    )


@dataclass(frozen=True)
class Composition:
    """The composed config (plain data, interpolations resolved) and where it came from."""

    root: Path
    params: dict[str, Any]
    yaml_text: str
    choices: dict[str, str | None] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()

    def provenance(self, key: str) -> str:
        """Best knowledge of the file (or override) a dotted key came from."""
        for override in self.overrides:
            name = override.lstrip("+~").split("=", 1)[0]
            if key == name or key.startswith(f"{name}."):
                return f"the override `{override}`"
        experiment = self.choices.get("experiment")
        if experiment and _file_sets_key(
            self.root / CONF_DIR / "experiment" / f"{experiment}.yaml", key
        ):
            return f"{CONF_DIR}/experiment/{experiment}.yaml"
        group = key.split(".", 1)[0]
        choice = self.choices.get(group)
        if choice:
            return f"{CONF_DIR}/{group}/{choice}.yaml"
        return f"{CONF_DIR}/config.yaml"


def _file_sets_key(path: Path, key: str) -> bool:
    try:
        node: Any = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def compose(root: Path, overrides: Sequence[str] = ()) -> Composition:
    """Compose `root/conf` with Hydra overrides, exactly as DVC's Hydra integration does."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    # Hydra reports these as a PyYAML traceback or a RecursionError; name file and line.
    check_defaults_cycle(root / CONF_DIR, overrides)
    try:
        cfg, choices = hydra_config(root, overrides)
        OmegaConf.resolve(cfg)
    except RecursionError:
        # A cycle the files' own check cannot see (an override Hydra expands differently).
        raise ConfigError(
            f"cannot compose {CONF_DIR}/ with overrides {list(overrides)}: its defaults lists "
            "include each other without end; look for a cycle among the `defaults:` entries"
        ) from None
    except (HydraException, OmegaConfBaseException) as error:
        # Hydra appends its search path to every message; it only distracts here.
        message = str(error).split("\nConfig search path", 1)[0].strip()
        message = (
            _below_interpolation(root, overrides, message)
            or unknown_key(root, overrides, message)
            or unknown_group(root / CONF_DIR, overrides, message)
            or unknown_option(root / CONF_DIR, message)
            or message
        )
        raise ConfigError(
            f"cannot compose {CONF_DIR}/ with overrides {list(overrides)}: {message}"
        ) from None
    return composition_of(root, cfg, choices, overrides)


def hydra_config(root: Path, overrides: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """Hydra's composition of `root/conf` (unresolved, without Hydra's own node) and its
    config group choices."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    with initialize_config_dir(str((root / CONF_DIR).resolve()), version_base=None):
        cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
    assert isinstance(choices, dict)
    # Drop Hydra's own node so the result is what DVC's Hydra composition writes.
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, {str(group): choice for group, choice in choices.items()}


def composition_of(
    root: Path, cfg: Any, choices: Mapping[str, Any], overrides: Sequence[str]
) -> Composition:
    from omegaconf import OmegaConf

    params = OmegaConf.to_container(cfg)
    assert isinstance(params, dict)
    return Composition(
        root=root,
        params={str(key): value for key, value in params.items()},
        yaml_text=OmegaConf.to_yaml(cfg),
        choices={str(k): (None if v is None else str(v)) for k, v in choices.items()},
        overrides=tuple(overrides),
    )


def _below_interpolation(root: Path, overrides: Sequence[str], message: str) -> str | None:
    """Hydra cannot set a key below an interpolated node (`evaluation.gate` is
    `${.gates.${data.task}}`) and advises `+key=value`, which would silently replace the
    whole node with that one key. Name the interpolation and the two overrides that work."""
    from omegaconf import DictConfig, OmegaConf

    found = re.match(r"Could not override '([^']+)'", message)
    if found is None:
        return None
    key = found.group(1)
    node = _composed_without(root, overrides, key)
    if node is None:
        return None
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1], start=1):
        if not isinstance(node, DictConfig) or part not in node:
            return None
        if OmegaConf.is_interpolation(node, part):
            prefix = ".".join(parts[:depth])
            raw = OmegaConf.to_container(node, resolve=False)
            target = raw[part] if isinstance(raw, dict) else part
            return (
                f"cannot set `{key}`: `{prefix}` is the interpolation `{target}`; override "
                f"the key it points to, or replace `{prefix}` whole (`{prefix}={{...}}`)"
            )
        node = node[part]
    return None


def _composed_without(root: Path, overrides: Sequence[str], key: str) -> Any:
    """conf/ composed (unresolved) with every override but the one setting `key`; None
    when that fails too (the other overrides have their own error)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    others = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] != key]
    try:
        with initialize_config_dir(str((root / CONF_DIR).resolve()), version_base=None):
            return hydra_compose("config", overrides=others)
    except HydraException:
        return None


def _dotted_keys(node: Any, prefix: str = "") -> list[str]:
    """Every key of a plain nested mapping, dotted (`data.source.kind`)."""
    if not isinstance(node, dict):
        return []
    return [
        found
        for name, value in node.items()
        for found in (f"{prefix}{name}", *_dotted_keys(value, f"{prefix}{name}."))
    ]


def _key_meant(key: str, keys: Sequence[str], siblings: Sequence[str]) -> str | None:
    """A typo of a sibling (`data.pth` -> `data.path`), else the same name in another
    section (`data.source.path` -> `data.path`), closest first."""
    parent, _, leaf = key.rpartition(".")
    close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)
    if close:
        return f"{parent}.{close[0]}"
    same_name = [other for other in keys if other.rpartition(".")[2] == leaf]
    nearest = difflib.get_close_matches(key, same_name, n=1, cutoff=0.0)
    return nearest[0] if nearest else None


def unknown_key(root: Path, overrides: Sequence[str], message: str) -> str | None:
    """Hydra answers an override of a key conf/ does not have (`data.source.path=x`) with
    "use +data.source.path=x", which only moves the error to validation, reported against
    the file. Name the override, the keys there are, and the key most likely meant."""
    from omegaconf import OmegaConf

    found = re.match(r"Could not override '([^']+\.[^']+)'", message)
    node = None if found is None else _composed_without(root, overrides, found.group(1))
    if found is None or node is None:
        return None
    key = found.group(1)
    override = next(o for o in overrides if o.lstrip("+~").split("=", 1)[0] == key)
    value = override.split("=", 1)[1] if "=" in override else "..."
    plain = OmegaConf.to_container(node, resolve=False)
    section: Any = plain
    parent = key.rpartition(".")[0]
    for part in parent.split("."):
        section = section.get(part) if isinstance(section, dict) else None
    if not isinstance(section, dict):
        return None  # a key below a missing section: Hydra's own message names it
    meant = _key_meant(key, _dotted_keys(plain), [str(name) for name in section])
    hint = f"; did you mean `{meant}={value}`?" if meant else ""
    return (
        f"the override `{override}` sets `{key}`, which conf/ does not have (`{parent}` "
        f"holds {sorted(str(name) for name in section)}){hint}"
    )


def config_groups(conf: Path) -> list[str]:
    """The config groups of conf/: its folders holding YAML files."""
    return sorted(p.name for p in conf.iterdir() if p.is_dir() and any(p.glob("*.yaml")))


def unknown_group(conf: Path, overrides: Sequence[str], message: str) -> str | None:
    """Hydra answers `modle=lightgbm` with "To append to your config use +modle=...",
    which only leads to a second error. Name the group the user most likely meant."""
    found = re.match(r"Could not override '([^'.]+)'", message)
    if found is None:
        return None
    name = found.group(1)
    groups = config_groups(conf)
    close = difflib.get_close_matches(name, groups, n=1, cutoff=0.6)
    if not close:
        return None
    value = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == name), "...")
    return (
        f"`{name}` is not a config group of {CONF_DIR}/; did you mean `{close[0]}={value}`? "
        f"groups: {groups}"
    )


def unknown_option(conf: Path, message: str) -> str | None:
    """Hydra's "Could not find 'model/lightgmb'" with the option closest to the typo."""
    found = re.search(r"Could not find '([^'/]+)/([^']+)'", message)
    if found is None or not (conf / found.group(1)).is_dir():
        return None
    group, option = found.groups()
    options = sorted(p.stem for p in (conf / group).glob("*.yaml"))
    close = difflib.get_close_matches(option, options, n=1, cutoff=0.6)
    hint = f"; did you mean `{group}={close[0]}`?" if close else ""
    listed = f"{hint} options" if hint else "; options"
    return f"`{option}` is not an option of config group `{group}`{listed}: {options}"


def validate(params: Mapping[str, Any], provenance: Any = None) -> ReprokitConfig:
    """Typed validation; the error names each bad key, its value, its file, what's expected."""
    where = provenance or (lambda _key: PARAMS_FILE)
    # Keys the user's own nodes bind are checked against those nodes' type hints and
    # hidden from the typed models, which still reject every other unknown key.
    typed, problems = check_user_params(params, where)
    try:
        config = ReprokitConfig.model_validate(typed)
    except ValidationError as error:
        raise ConfigError(report([*explain_lines(error, where), *problems])) from None
    if problems:
        raise ConfigError(report(problems))
    return config


def compose_and_validate(
    root: Path, overrides: Sequence[str] = (), composer: Any = None
) -> tuple[Composition, ReprokitConfig]:
    """Compose (with `composer`'s `compose(overrides)` when one is given: a sweep's
    reprokit.sweeps.composer.Composer) and validate;
    also import every declared node's function and bind its arguments (only here, at compose
    time: each DVC stage imports just its own nodes)."""
    composition = composer.compose(overrides) if composer else compose(root, overrides)
    config = validate(composition.params, composition.provenance)
    problems = check_node_functions(composition.params)
    if problems:
        raise PipelineSpecError(report(problems))
    return composition, config


def read_params(root: Path) -> dict[str, Any]:
    """params.yaml as plain data (what every DVC stage and `kedro run` reads)."""
    path = root / PARAMS_FILE
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: run `reprokit config compose`")
    try:
        params = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path} must hold a mapping, got {type(params).__name__}")
    return params


def load_config(root: Path) -> ReprokitConfig:
    """Read and validate params.yaml; errors name params.yaml as the file."""
    return validate(read_params(root))


@dataclass(frozen=True)
class Workspace:
    """A project root with its validated config, the plain params and their YAML text."""

    root: Path
    config: ReprokitConfig
    params: dict[str, Any]
    params_yaml: str
    overrides: tuple[str, ...] = ()


def workspace_from_params_file(root: Path) -> Workspace:
    """What DVC stages and `kedro run` see: params.yaml, validated."""
    params = read_params(root)
    return Workspace(
        root=root,
        config=validate(params),
        params=params,
        params_yaml=(root / PARAMS_FILE).read_text(encoding="utf-8"),
    )


def workspace_from_conf(
    root: Path, overrides: Sequence[str] = (), composer: Any = None
) -> Workspace:
    """What `reprokit run` sees: conf/ composed with overrides, validated."""
    composition, config = compose_and_validate(root, overrides, composer)
    return Workspace(
        root=root,
        config=config,
        params=composition.params,
        params_yaml=composition.yaml_text,
        overrides=tuple(overrides),
    )


def write_params(composition: Composition) -> Path:
    from reprokit.core.fs import atomic_path

    path = composition.root / PARAMS_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(PARAMS_HEADER + composition.yaml_text, encoding="utf-8")
    return path


def check_params(root: Path) -> None:
    """Raise `StaleFileError` naming the differing keys when params.yaml != compose(conf/)."""
    composition, _ = compose_and_validate(root)
    path = root / PARAMS_FILE
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current == PARAMS_HEADER + composition.yaml_text:
        return
    if current is None:
        raise StaleFileError(f"{path} is missing: run `reprokit config compose`")
    differing = diff_keys(read_params(root), composition.params)
    detail = f"differing keys: {differing[:20]}" if differing else "formatting differs"
    raise StaleFileError(
        f"{path} is stale against {root / CONF_DIR} ({detail}): run `reprokit config compose`"
    )


def diff_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new), key=str)
        return [d for k in keys for d in diff_keys(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]
