"""Pins what reprokit._compat.typeguard relies on in typeguard and Feast."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import typeguard

from reprokit._compat.typeguard import typechecked_off


def test_the_decorator_is_back_after_the_block_and_off_within() -> None:
    original = typeguard.typechecked
    with typechecked_off():
        off = typeguard.typechecked

        def f(x: int) -> int:
            return x

        assert off(f) is f
        assert off()(f) is f
        assert off(forward_ref_policy=None)(f) is f
    assert typeguard.typechecked is original


def test_feast_is_instrumented_when_imported_plainly() -> None:
    code = "import feast; assert 'TypeCheckMemo' in feast.Entity.__init__.__code__.co_names"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_feast_binds_the_decorator_at_import_and_imports_without_it() -> None:
    # A fresh interpreter: Feast imported here would stay imported for the other tests.
    code = textwrap.dedent(
        """
        import inspect, typeguard, typeguard._decorators
        from reprokit._compat.typeguard import typechecked_off
        with typechecked_off():
            import feast
            from feast import entity
        # `from typeguard import typechecked` at module level: the name feast.entity bound.
        assert "from typeguard import typechecked" in inspect.getsource(entity)
        # Instrumented, a method's code calls typeguard's checks (names TypeCheckMemo).
        assert "TypeCheckMemo" not in feast.Entity.__init__.__code__.co_names
        assert typeguard.typechecked is typeguard._decorators.typechecked
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)
