"""Digests tests compare outputs by (the same algorithms DVC and reprokit record)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def file_sha256(path: Path) -> str:
    return sha256(path.read_bytes())


def file_md5(path: Path) -> str:
    return md5(path.read_bytes())
