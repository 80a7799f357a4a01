"""Tag keys that read in full on MLflow's run page (issue 16): the page cuts a key next to a
long value to its first letters ("reproki…: 853522…"), so a tag whose value can be longer
than 15 characters has a key of at most 15. The keys come from the code that builds them,
so a new long key fails here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.support import PROJECT_ROOT

from reprokit.config.compose import workspace_from_params_file
from reprokit.config.roles import TEST_SPLIT, role_dataset
from reprokit.core import names
from reprokit.core.names import MAX_LONG_VALUE_KEY, key_reads_in_full
from reprokit.tracking.outputs import GATE_NOT_CHECKED, Output, output_sha256_key
from reprokit.tracking.promotion import Candidate, PromotionRule, decide
from reprokit.tracking.recorder import hashed_files
from reprokit.tracking.runs import NotAReprokitRunError, RecordedRun, check_project_run
from reprokit.tracking.session import fingerprint_of
from reprokit.tracking.store import Execution, identity_tags, output_tags, version_tags

WORKSPACE = workspace_from_params_file(PROJECT_ROOT)
# Keys longer than 15 whose values never are (a version number, a direction).
SHORT_VALUED = {
    names.MODEL_VERSION_TAG,
    names.BEST_MODEL_VERSION_TAG,
    names.PREVIOUS_CHAMPION_TAG,
    names.RANK_DIRECTION_TAG,
}


def real_shaped_execution(root: Path) -> Execution:
    """An execution of the project's own config that produced every tracked file, with
    values as long as real ones (a fresh clone has no raw data: its md5 is shaped here)."""
    config, params = WORKSPACE.config, WORKSPACE.params
    fingerprint = fingerprint_of(config, params, PROJECT_ROOT)
    data = dict.fromkeys(fingerprint.data_hashes, "d" * 32)
    test_split = root / config.catalog[role_dataset(config.catalog, TEST_SPLIT) or ""]["filepath"]
    test_split.parent.mkdir(parents=True)
    test_split.write_bytes(b"the test split")
    return Execution(
        config=config,
        params=params,
        root=root,
        fingerprint=dataclasses.replace(fingerprint, data_hashes=data),
        entry_point="reprokit run",
        overrides=["model.num_leaves=63"],
        # Files get a sha256, folders (the figures, the plot tables) none, as when recorded.
        outputs={
            name: Output("e" * 64 if path.suffix else None)
            for name, path in hashed_files(config, root).items()
        },
        gate=GATE_NOT_CHECKED,
    )


def cut_keys(tags: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in tags.items() if not key_reads_in_full(key, value)}


def test_every_tag_a_run_records_reads_in_full(tmp_path: Path) -> None:
    execution = real_shaped_execution(tmp_path)
    tags = {**identity_tags(dataclasses.replace(execution, root=PROJECT_ROOT))}
    tags.update(output_tags(execution))
    assert len(tags[names.GIT_COMMIT_TAG]) == 40  # the clone's real commit
    assert {names.TEST_SPLIT_TAG, names.EVALUATION_TAG, names.MODEL_SHA256_TAG} <= set(tags)
    assert names.OUTPUT_SHA256_TAG + "state" in tags  # the feature state, by its role
    assert cut_keys(tags) == {}
    long_valued = [key for key, value in tags.items() if len(value) > MAX_LONG_VALUE_KEY]
    assert all(len(key) <= MAX_LONG_VALUE_KEY for key in long_valued), long_valued


def test_every_tag_a_registered_version_carries_reads_in_full(tmp_path: Path) -> None:
    execution = real_shaped_execution(tmp_path)
    rule = PromotionRule("roc_auc", "maximize", 0.0)
    first = decide(Candidate("1", 0.8, "t" * 32, "e" * 64), None, rule)
    refused = decide(
        Candidate("2", 0.9, "u" * 32, "e" * 64), Candidate("1", 0.8, "t" * 32, "e" * 64), rule
    )
    tags = {
        **version_tags(execution, "f" * 32, "a" * 64),
        names.PROMOTION_REASON_TAG: first.reason,
        names.PROMOTION_REFUSED_TAG: refused.reason,
        names.PROMOTED_AT_TAG: "2026-12-01T23:59:59+00:00",
        names.ROLLBACK_REASON_TAG: refused.reason,
        names.ROLLBACK_KEPT_TAG: "reprokit-credit:" + "k" * 16,
    }
    assert refused.action == "refuse"
    assert cut_keys(tags) == {}


def test_every_fixed_tag_key_is_short_unless_its_value_always_is() -> None:
    keys = {
        name: value
        for name, value in vars(names).items()
        if name.endswith("_TAG") and isinstance(value, str) and not value.endswith(".")
    }
    assert all(value.startswith(names.TAG_PREFIX) for value in keys.values())
    long_keys = {value for value in keys.values() if len(value) > MAX_LONG_VALUE_KEY}
    assert long_keys == SHORT_VALUED


@pytest.mark.parametrize(
    ("key", "value", "full"),
    [
        ("reprokit.fingerprint", "8" * 64, False),  # the run page showed "reproki…: 8535…"
        ("rk.fingerprint", "8" * 64, True),
        ("rk.model_version", "3", True),  # 30 characters in all: nothing is cut
        ("rk.version.scikit-learn-xy", "1.9.1", False),  # the longer one, the key, is cut
        ("sixteen_chars_ke", "sixteen_chars_va", False),  # both longer than 15: both cut
    ],
)
def test_the_rule_is_mlflows_run_page_chip(key: str, value: str, full: bool) -> None:
    assert key_reads_in_full(key, value) is full


def test_output_keys_are_named_by_role_and_never_collide() -> None:
    catalog = {
        "fitted": {"metadata": {"reprokit": {"role": "feature_state"}}},
        "state": {},  # no role, but named like the feature state's short name
        "metrics": {},
    }
    keys = {name: output_sha256_key(catalog, name) for name in catalog}
    assert keys == {
        "fitted": "rk.sha.state",
        "state": "rk.sha256.state",
        "metrics": "rk.sha.metrics",
    }


def test_a_run_recorded_with_the_old_prefix_is_refused_saying_so() -> None:
    tags = {"reprokit.fingerprint": "f" * 64, "reprokit.project": "reprokit"}
    old = RecordedRun("a" * 32, "FINISHED", 0, tags, {}, {})
    with pytest.raises(NotAReprokitRunError, match=r"older reprokit, whose tags start with"):
        check_project_run(old, "reprokit")
