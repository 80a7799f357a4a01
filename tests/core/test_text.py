import numpy as np
import pandas as pd
import pytest

from reprokit.core.text import is_plain_text


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series(["a", None, "b"], dtype=object), True),
        (pd.Series([None, np.nan], dtype=object), True),  # all missing: nothing to convert
        (np.array(["a", "b"], dtype=object), True),
        (pd.Series(["a", 1], dtype=object), False),  # mixed: needs str()
        (pd.Series([True, False], dtype=object), False),
        (pd.Series(["a", "b"], dtype="string"), False),  # not object dtype: its own path
        (pd.Series([1, 2]), False),
    ],
)
def test_plain_text_is_object_dtype_holding_only_strings_or_missing(
    values: object, expected: bool
) -> None:
    assert is_plain_text(values) is expected
