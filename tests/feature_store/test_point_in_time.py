"""The `training_set` stage (`reprokit features training-set`): Feast's historical retrieval
gives each training example the feature values its entity had at the example's time, never a
value recorded later."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.support import PROJECT_ROOT, git_init, run

from reprokit.config.compose import compose_and_validate, load_config
from reprokit.dvcgen.generate import stages_for
from reprokit.errors import ConfigError
from reprokit.feature_store.spec import TRAINING_STAGE, feature_repo
from reprokit.feature_store.store import FeatureStoreError
from reprokit.feature_store.training import entity_frame

# A value of each schema dtype for the columns the test does not look at.
FILLER = {"int64": 12, "float64": 1.5, "str": "x", "bool": True}


def _table(project: Path, rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    """The validated primary table with (customer, event time, income) rows planted."""
    config = load_config(project)
    columns = config.data.schema_.columns
    frame = pd.DataFrame(
        {
            name: [FILLER[column.dtype]] * len(rows)
            for name, column in columns.items()
            if column.dtype in FILLER
        }
    )
    frame["customer_id"] = [customer for customer, _, _ in rows]
    frame["application_date"] = pd.to_datetime([time for _, time, _ in rows])
    frame["income"] = [income for _, _, income in rows]
    return frame[list(columns)]


@pytest.mark.slow
def test_no_feature_value_from_after_a_rows_time_reaches_it(project_copy: Path) -> None:
    table = _table(
        project_copy,
        [
            (1, "2024-01-10", 1000.0),
            # The same customer's value changed later: only later examples may see it.
            (1, "2024-03-10", 3000.0),
            # Customer 2's only value is recorded after its first example: a future value.
            (2, "2024-06-01", 9999.0),
        ],
    )
    primary = project_copy / "data/02_intermediate/primary.parquet"
    table.to_parquet(primary, index=False)
    entities = pd.DataFrame(
        {
            "customer_id": [2, 1, 1, 1, 2, 1, 1],
            "application_date": pd.to_datetime(
                [
                    "2024-02-01",
                    "2024-01-01",
                    "2024-01-10",
                    "2024-02-01",
                    "2024-07-01",
                    "2024-04-01",
                    # Two examples of one customer at one time both stay (Feast keeps one).
                    "2024-02-01",
                ]
            ),
            "default": [1, 0, 0, 1, 0, 1, 0],
        }
    )
    entities.to_parquet(project_copy / "entities.parquet", index=False)

    run(
        ["reprokit", "config", "compose", "feature_store.training_entities=entities.parquet"],
        project_copy,
    )
    run(["reprokit", "dvc", "generate"], project_copy)
    git_init(project_copy)
    # Only this stage: upstream ones would overwrite the planted table.
    printed = run(["dvc", "repro", "--single-item", "training_set"], project_copy).stdout
    assert "7 rows" in printed
    again = run(["dvc", "repro", "--single-item", "training_set"], project_copy).stdout
    assert "Stage 'training_set' didn't change" in again

    out = project_copy / "data/05_model_input/training_set.parquet"

    built = pd.read_parquet(out)
    # The entity table's rows, times and labels, in its order, with the table's columns.
    assert list(built.columns) == list(table.columns)
    pd.testing.assert_frame_equal(built[list(entities.columns)], entities, check_dtype=False)
    incomes: list[Any] = built["income"].tolist()
    # Customer 2 on Feb 1: its only value is from June, the future; customer 1 on Jan 1:
    # before its first value. Both examples stay, with no features.
    assert math.isnan(incomes[0])
    assert math.isnan(incomes[1])
    # A value counts from its own time on; the later change reaches only the April example.
    assert incomes[2:] == [1000.0, 1000.0, 9999.0, 3000.0, 1000.0]
    # A feature other than the planted one comes along from the same table row.
    assert built["loan_term_months"].tolist()[2:] == [12] * 5


def test_entity_table_without_the_time_column_names_it(project_copy: Path) -> None:
    repo = feature_repo(load_config(project_copy))
    with pytest.raises(
        FeatureStoreError, match=r"entities\.parquet lacks column\(s\) \['application_date'\]"
    ):
        entity_frame(pd.DataFrame({"customer_id": [1]}), repo, "default", "entities.parquet")


def test_the_stage_exists_only_with_an_entity_table_and_reads_it() -> None:
    default = load_config(PROJECT_ROOT)
    assert TRAINING_STAGE not in {stage.name for stage in stages_for(default, PROJECT_ROOT)}
    _, config = compose_and_validate(
        PROJECT_ROOT, ["feature_store.training_entities=data/01_raw/examples.parquet"]
    )
    (stage,) = [s for s in stages_for(config, PROJECT_ROOT) if s.name == TRAINING_STAGE]
    assert stage.deps[:2] == [
        "data/01_raw/examples.parquet",
        "data/02_intermediate/primary.parquet",
    ]
    assert stage.outs == ["data/05_model_input/training_set.parquet"]
    with pytest.raises(ConfigError, match=r"feature_store\.training_entities must be \.parquet"):
        compose_and_validate(PROJECT_ROOT, ["feature_store.training_entities=examples.csv"])
