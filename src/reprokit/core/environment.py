"""The environment that can change the bytes of a result, recorded with every run.

Same config + same data gives the same bytes on any x86-64 CPU level (see
`reprokit.nodes.portable_math`), but a different numpy, LightGBM or libm, another CPU
architecture, or a BLAS kernel chosen for another core can still change them. Each run
records these facts (MLflow tags `rk.env.*`), and `reproduce`/`diff` name the ones
that differ when results differ, instead of leaving the user to guess.

Reads only what is already loaded or cheap: no package is imported here for its own sake
except numpy (every pipeline process has it) and threadpoolctl (a few ms; it inspects the
BLAS libraries already loaded).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from reprokit.core.names import ENV_TAG

# Packages whose version can change a result's bytes (kernels, file formats, the learner).
BYTE_PACKAGES = ("numpy", "pandas", "pyarrow", "lightgbm", "xgboost-cpu", "scikit-learn", "scipy")
SIMD_DISABLE_VARIABLE = "NPY_DISABLE_CPU_FEATURES"
CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's marketing name (`model name` on x86, else the architecture)."""
    text = cpuinfo
    if text is None:
        try:
            text = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def numpy_simd() -> dict[str, str]:
    """The SIMD targets numpy dispatches to in this process (baseline and above)."""
    # numpy's own `show_runtime` reads the same private attributes; no public API has them.
    umath = importlib.import_module("numpy._core._multiarray_umath")
    baseline: list[str] = list(getattr(umath, "__cpu_baseline__", []))
    dispatch: list[str] = list(getattr(umath, "__cpu_dispatch__", []))
    features: dict[str, bool] = dict(getattr(umath, "__cpu_features__", {}))
    active = [name for name in dispatch if features.get(name)]
    # Short fact names: each is the tail of an `rk.env.<fact>` tag key, which MLflow's run
    # page cuts beyond 15 characters next to a long value (reprokit.core.names).
    return {
        "simd_base": " ".join(baseline) or "none",
        "simd": " ".join(active) or "none",
        "simd_off": os.environ.get(SIMD_DISABLE_VARIABLE, "") or "none",
    }


def blas() -> str:
    """numpy's BLAS and the kernel family it picked for this CPU.

    Only numpy's own: SciPy and scikit-learn load another OpenBLAS later in some processes
    and not in others, which would make the fact depend on what happened to be imported."""
    import numpy

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    # Wheels put it in `numpy.libs/` beside the package: a prefix of the package path.
    numpy_dir = str(Path(numpy.__file__).resolve().parent)
    libraries = [
        f"{info.get('internal_api', '?')} {info.get('version', '?')} "
        f"({info.get('architecture', '?')})"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
        and str(Path(info.get("filepath", "")).resolve()).startswith(numpy_dir)
    ]
    return "; ".join(sorted(libraries)) or "none loaded"


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """Python's version and each installed package's (missing packages left out)."""
    found = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def byte_environment() -> dict[str, str]:
    """Everything recorded about this process's environment, flat and string-valued."""
    libc, libc_version = platform.libc_ver()
    facts = {
        "machine": platform.machine() or "unknown",
        "cpu": cpu_model(),
        "libc": f"{libc} {libc_version}".strip() or "unknown",
        "blas": blas(),
        **numpy_simd(),
        **package_versions(BYTE_PACKAGES),  # by package name: `rk.env.numpy` = 2.4.6
    }
    facts["hash"] = environment_hash(facts)
    return facts


def environment_hash(facts: Mapping[str, str]) -> str:
    """A short key of the facts; equal keys mean nothing recorded here differs."""
    relevant = {key: value for key, value in facts.items() if key != "hash"}
    text = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def environment_changes(
    recorded: Mapping[str, str], current: Mapping[str, str]
) -> list[tuple[str, str | None, str | None]]:
    """The facts that differ, as (name, recorded, current); `hash` itself left out."""
    names = sorted((set(recorded) | set(current)) - {"hash"})
    return [
        (name, recorded.get(name), current.get(name))
        for name in names
        if recorded.get(name) != current.get(name)
    ]


def recorded_environment(tags: Mapping[str, str]) -> dict[str, str]:
    """The facts a run recorded, from its tags `rk.env.<fact>`."""
    return {key[len(ENV_TAG) :]: value for key, value in tags.items() if key.startswith(ENV_TAG)}


def describe_changes(changes: list[tuple[str, str | None, str | None]]) -> str:
    """One line naming each differing fact: `cpu: A -> B; numpy: 2.3 -> 2.4`."""
    return "; ".join(
        f"{name}: {old or '(not recorded)'} -> {new or '(none)'}" for name, old, new in changes
    )
