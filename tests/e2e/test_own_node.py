"""README "Your own nodes", as written: a user's node with its own param, through real DVC."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.support import commit_all, git_init, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dvc")]

OUTPUT = "data/02_intermediate/primary_winsorized.parquet"


def readme_blocks(project: Path) -> dict[str, list[str]]:
    """The code blocks of README's "Your own nodes" section, by language, in order."""
    readme = (project / "README.md").read_text()
    section = readme.split("## Your own nodes\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for match in re.finditer(r"```(\w+)\n(.*?)```", section, re.DOTALL):
        blocks.setdefault(match.group(1), []).append(match.group(2))
    return blocks


def add_own_node(project: Path) -> str:
    """The README's steps, from its own text: the module, the node and the pipeline change,
    the catalog entry. Returns the value snippet for conf/features/credit.yaml."""
    blocks = readme_blocks(project)
    (nodes_py,) = blocks["python"]
    spec_yaml, value_yaml, catalog_yaml = blocks["yaml"]
    package = project / "src" / "my_project"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nodes.py").write_text(nodes_py)
    pipeline_file = project / "conf/pipeline/default.yaml"
    pipeline = yaml.safe_load(pipeline_file.read_text())
    spec = yaml.safe_load(spec_yaml)
    pipeline["nodes"].update(spec["nodes"])
    pipeline["pipelines"].update(spec["pipelines"])
    pipeline_file.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    with (project / "conf/catalog/default.yaml").open("a") as catalog:
        catalog.write(catalog_yaml)
    return value_yaml


def set_features(project: Path, snippet: str) -> None:
    with (project / "conf/features/credit.yaml").open("a") as features:
        features.write(snippet)


def test_readme_own_node_runs_with_its_param_through_dvc(project_copy: Path) -> None:
    project = project_copy
    value_yaml = add_own_node(project)
    assert value_yaml == "winsor_limits: [0.01, 0.99]\n"
    credit = (project / "conf/features/credit.yaml").read_text()
    set_features(project, "winsor_limits: high\n")
    refused = run(["reprokit", "config", "compose"], project, check=False)
    assert refused.returncode == 2
    assert (
        "`features.winsor_limits` (value 'high') in conf/features/credit.yaml: node "
        "'winsorize' (my_project.nodes.winsorize, argument `limits`) expects list[float]"
    ) in refused.stderr
    assert "Traceback" not in refused.stderr
    (project / "conf/features/credit.yaml").write_text(credit)
    set_features(project, value_yaml)
    run(["reprokit", "config", "compose"], project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["features"]["winsor_limits"] == [0.01, 0.99]
    run(["reprokit", "dvc", "generate"], project)
    prepare = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]["prepare"]
    assert "features.winsor_limits" in prepare["params"]
    assert "src/my_project/nodes.py" in prepare["deps"]
    assert OUTPUT in prepare["outs"]

    git_init(project)
    result = run(["dvc", "repro", "prepare"], project)
    assert "Running stage 'prepare'" in result.stdout
    primary = pd.read_parquet(project / "data/02_intermediate/primary.parquet")
    clipped = pd.read_parquet(project / OUTPUT)
    floats = primary.select_dtypes("float").columns
    assert len(floats) > 0
    expect = pd.testing.assert_series_equal
    expect(clipped[floats].max(), primary[floats].quantile(0.99), check_names=False)
    expect(clipped[floats].min(), primary[floats].quantile(0.01), check_names=False)
    assert clipped.drop(columns=floats).equals(primary.drop(columns=floats))

    # The param is a DVC param like any other: an experiment sets it on the command line.
    commit_all(project, "own node")
    run(["dvc", "exp", "run", "-S", "features.winsor_limits=[0.1,0.9]", "prepare"], project)
    clipped = pd.read_parquet(project / OUTPUT)
    expect(clipped[floats].max(), primary[floats].quantile(0.9), check_names=False)
