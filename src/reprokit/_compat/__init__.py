"""Private APIs of third-party libraries, one module per library, each the only place
reprokit touches them.

The versions are pinned in uv.lock; `tests/compat/test_<library>.py` pins the behaviour
reprokit relies on, so an upgrade that changes it fails a test named after the library
rather than somewhere deep in a run. Ruff's banned-api list (pyproject.toml) keeps the
private imports out of every other module.
"""
