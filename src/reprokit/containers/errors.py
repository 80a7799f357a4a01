"""Errors a user can hit while building or running the service's image."""

from __future__ import annotations

from reprokit.errors import ReprokitError


class ContainerToolError(ReprokitError):
    """A container tool (podman, buildah, debootstrap) is missing or one of its steps failed."""


class MirrorNotFoundError(ReprokitError):
    """No Debian mirror for the base image's suite is configured in apt's sources."""

    exit_code = 2
