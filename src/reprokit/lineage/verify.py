"""The checks of `reprokit lineage`, as pure functions of what was read (no I/O here).

The chain, from the serving end to the source:

    prediction -> BentoML model -> registry version -> MLflow run -> fingerprint
      -> config + DVC data hashes + code/lock hashes -> git commit

Every link is a `Link` with the hash it vouches for and a status: `verified`, `broken`
(the detail names what was expected and what was found), or `not checked` (the detail says
why: nothing to check against, or too costly to check). The reader (reprokit.lineage.trace)
gathers the facts below; these functions only compare them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from reprokit.core.content.fingerprint import fingerprint_value
from reprokit.core.names import (
    CODE_HASH_TAG,
    CONFIG_HASH_TAG,
    DATA_MD5_TAG,
    FINGERPRINT_TAG,
    LOCK_HASH_TAG,
    MODEL_SHA256_TAG,
)

FINGERPRINT_LABEL_LENGTH = 12  # `reprokit package` labels the first 12 characters


class Status(StrEnum):
    VERIFIED = "verified"
    BROKEN = "broken"
    NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class Link:
    """One checked link of the chain."""

    link: str  # which link, e.g. "BentoML model file"
    subject: str  # what it is about: a tag, `name/version`, a run id, a file
    hash: str | None  # the hash this link vouches for
    status: Status
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}


def verified(link: str, subject: str, value: str | None, detail: str = "") -> Link:
    return Link(link, subject, value, Status.VERIFIED, detail)


def broken(link: str, subject: str, value: str | None, detail: str) -> Link:
    return Link(link, subject, value, Status.BROKEN, detail)


def not_checked(link: str, subject: str, value: str | None, why: str) -> Link:
    return Link(link, subject, value, Status.NOT_CHECKED, why)


def same(
    link: str, subject: str, expected: tuple[str | None, str], found: tuple[str | None, str]
) -> Link:
    """`found` must equal `expected`, each a (value, where it comes from) pair."""
    (want, want_from), (got, got_in) = expected, found
    if want is None:
        return broken(link, subject, got, f"{want_from} is missing")
    if got is None:
        return broken(link, subject, want, f"{got_in} is missing (expected {want})")
    if got != want:
        return broken(link, subject, got, f"expected {want} ({want_from}), found {got} ({got_in})")
    return verified(link, subject, got, f"{got_in} = {want_from}")


def exit_code(links: Iterable[Link]) -> int:
    """0 when no link is broken, 1 otherwise (2, an unknown ref, is raised before)."""
    return 1 if any(link.status is Status.BROKEN for link in links) else 0


# --- the facts the reader gathers ------------------------------------------------------------


@dataclass(frozen=True)
class BentoFacts:
    """A packaged BentoML model: its labels, metadata and the model file's actual sha256."""

    tag: str
    labels: Mapping[str, str]
    metadata: Mapping[str, Any]
    file_sha256: str | None  # None: no model file in the store's folder

    def meta(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return None if value is None else str(value)


@dataclass(frozen=True)
class VersionFacts:
    """A registry version, or `found` False when the registry has no such version."""

    name: str
    version: str
    found: bool
    run_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class RunFacts:
    """An MLflow run and its artifacts, as read (`found` False: not in the store)."""

    run_id: str
    found: bool
    status: str | None = None
    deleted: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    model_artifact_sha256: str | None = None  # the logged `model` artifact, hashed
    logged_fingerprint: Mapping[str, Any] | None = None  # fingerprint.json
    composed_config_hash: str | None = None  # config hash recomputed from composed_config.yaml
    problems: Sequence[str] = ()  # artifacts that could not be read

    def tag(self, key: str) -> str | None:
        """The value of tag `key` (a reprokit.core.names constant), None when not set."""
        return self.tags.get(key)

    @property
    def data_hashes(self) -> dict[str, str]:
        prefix = DATA_MD5_TAG
        return {k[len(prefix) :]: v for k, v in sorted(self.tags.items()) if k.startswith(prefix)}


@dataclass(frozen=True)
class DataFacts:
    """Where a recorded input md5 was looked for, and what was there."""

    dataset: str
    md5: str
    workspace_file: str
    workspace_md5: str | None  # None: the file does not exist
    cache_object: str
    cache_md5: str | None  # None: no such cache object


@dataclass(frozen=True)
class CommitFacts:
    """The run's git commit in the project's repository, and the hashes recomputed there."""

    commit: str | None  # None: the run recorded no commit
    exists: bool
    dirty: bool
    code_hash: str | None = None  # recomputed at the commit; None: not computed
    lock_hash: str | None = None
    why_not: str = ""  # why the hashes were not recomputed


# --- the checks ------------------------------------------------------------------------------


def check_prediction(bento: BentoFacts, served_fingerprint: str | None) -> list[Link]:
    """The served response's `x-reprokit-model-fingerprint` names the stored model's."""
    if served_fingerprint is None:
        return []
    return [
        same(
            "prediction -> BentoML model",
            bento.tag,
            (served_fingerprint, "the response's x-reprokit-model-fingerprint"),
            (bento.meta("fingerprint"), "the BentoML model's metadata fingerprint"),
        )
    ]


def check_bento(bento: BentoFacts) -> list[Link]:
    """(1) The model file in the store is the one the metadata names; labels agree."""
    links = [
        same(
            "BentoML model file",
            bento.tag,
            (bento.meta("model_sha256"), "metadata model_sha256"),
            (bento.file_sha256, "sha256 of the model file in the BentoML store"),
        )
    ]
    fingerprint, label = bento.meta("fingerprint"), bento.labels.get("fingerprint")
    links.append(
        same(
            "BentoML labels",
            bento.tag,
            (
                None if fingerprint is None else fingerprint[:FINGERPRINT_LABEL_LENGTH],
                "metadata fingerprint",
            ),
            (label, "label fingerprint"),
        )
    )
    return links


def check_version(version: VersionFacts, bento: BentoFacts | None) -> list[Link]:
    """(2) The registry version exists, points at the BentoML model's run, and holds the
    model's sha256."""
    link = "registry version"
    if not version.found:
        return [broken(link, version.subject, None, "the MLflow registry has no such version")]
    found = version.tags.get(MODEL_SHA256_TAG)
    if bento is None:  # reached from the run or the version itself: nothing upstream to match
        return [verified(link, version.subject, found, f"exists, run {version.run_id}")]
    return [
        same(
            "registry version -> run",
            version.subject,
            (bento.meta("mlflow_run_id"), "the BentoML model's mlflow_run_id"),
            (version.run_id, "the version's run_id"),
        ),
        same(
            link,
            version.subject,
            (bento.meta("model_sha256"), "the BentoML model's model_sha256"),
            (found, f"version tag {MODEL_SHA256_TAG}"),
        ),
    ]


def check_run(run: RunFacts, model_sha256: str | None, fingerprint: str | None) -> list[Link]:
    """(3) The run exists, is FINISHED and not deleted, recorded this model and logged it."""
    link = "MLflow run"
    if not run.found:
        return [broken(link, run.run_id, None, "the run is not in the MLflow store")]
    if run.deleted:
        return [broken(link, run.run_id, None, "the run was deleted from the MLflow store")]
    if run.status != "FINISHED":
        return [broken(link, run.run_id, None, f"the run is {run.status}, not FINISHED")]
    tag = run.tag(MODEL_SHA256_TAG)
    links = []
    if model_sha256 is not None:
        links.append(
            same(
                link,
                run.run_id,
                (model_sha256, "upstream model_sha256"),
                (tag, f"run tag {MODEL_SHA256_TAG}"),
            )
        )
    links.append(
        same(
            "MLflow run model artifact",
            run.run_id,
            (tag, f"run tag {MODEL_SHA256_TAG}"),
            (run.model_artifact_sha256, "sha256 of the logged `model` artifact"),
        )
    )
    if fingerprint is not None:
        links.append(
            same(
                "MLflow run fingerprint",
                run.run_id,
                (fingerprint, "upstream fingerprint"),
                (run.tag(FINGERPRINT_TAG), f"run tag {FINGERPRINT_TAG}"),
            )
        )
    links.extend(broken("MLflow run artifacts", run.run_id, None, p) for p in run.problems)
    return links


def check_fingerprint(run: RunFacts) -> list[Link]:
    """(4) The fingerprint recomputes from its parts: the config hash of the logged composed
    config, the data md5s, the code and lock hashes, and fingerprint.json agrees."""
    subject = run.run_id
    config = run.tag(CONFIG_HASH_TAG)
    links = [
        same(
            "config hash",
            subject,
            (config, f"run tag {CONFIG_HASH_TAG}"),
            (run.composed_config_hash, "recomputed from composed_config.yaml"),
        )
    ]
    code, lock = run.tag(CODE_HASH_TAG), run.tag(LOCK_HASH_TAG)
    if config is None or code is None or lock is None:
        links.append(
            broken("fingerprint", subject, None, "the run lacks config/code/lock hash tags")
        )
        return links
    recomputed = fingerprint_value(config, run.data_hashes, code, lock)
    links.append(
        same(
            "fingerprint",
            subject,
            (run.tag(FINGERPRINT_TAG), f"run tag {FINGERPRINT_TAG}"),
            (recomputed, "recomputed from the config, data, code and lock hashes"),
        )
    )
    logged = run.logged_fingerprint
    if logged is not None:
        parts = {
            "value": run.tag(FINGERPRINT_TAG),
            "config_hash": config,
            "code_hash": code,
            "lock_hash": lock,
            "data_hashes": run.data_hashes,
        }
        differ = sorted(key for key, value in parts.items() if logged.get(key) != value)
        links.append(
            broken("fingerprint.json", subject, None, f"differs from the run's tags in {differ}")
            if differ
            else verified("fingerprint.json", subject, logged.get("value"), "= the run's tags")
        )
    return links


def check_data(data: DataFacts) -> Link:
    """(5) The recorded md5 is in the DVC cache (verified content) or in the workspace file."""
    link, subject = "data", data.dataset
    if data.cache_md5 == data.md5:
        return verified(link, subject, data.md5, f"in the DVC cache ({data.cache_object})")
    if data.workspace_md5 == data.md5:
        return verified(link, subject, data.md5, f"the workspace file {data.workspace_file}")
    workspace = (
        f"{data.workspace_file} does not exist"
        if data.workspace_md5 is None
        else f"{data.workspace_file} has md5 {data.workspace_md5}"
    )
    cache = (
        f"no DVC cache object {data.cache_object}"
        if data.cache_md5 is None
        else f"DVC cache object {data.cache_object} is corrupt (md5 {data.cache_md5})"
    )
    return broken(link, subject, data.md5, f"md5 {data.md5} is nowhere: {workspace}; {cache}")


def check_commit(commit: CommitFacts, run: RunFacts) -> list[Link]:
    """(6) The commit exists; the code and lock hashes recomputed at it match the run's."""
    link = "git commit"
    if commit.commit is None:
        return [not_checked(link, run.run_id, None, "the run recorded no git commit")]
    if not commit.exists:
        return [broken(link, commit.commit, None, "the commit is not in the git repository")]
    links = [verified(link, commit.commit, commit.commit, "exists in the repository")]
    short = commit.commit[:12]
    if commit.code_hash is None or commit.lock_hash is None:
        links.append(not_checked("code at commit", short, run.tag(CODE_HASH_TAG), commit.why_not))
        return links
    recomputed = (
        ("code at commit", CODE_HASH_TAG, commit.code_hash, "code hash recomputed at the commit"),
        ("lock file at commit", LOCK_HASH_TAG, commit.lock_hash, "sha256 of uv.lock at the commit"),
    )
    links += [
        same(name, short, (run.tag(tag), f"run tag {tag}"), (value, where))
        for name, tag, value, where in recomputed
    ]
    return links
