"""Container images of the service built and run with podman or buildah, no Docker engine.

Everything lives in the project's scratch space (`.reprokit/containers/`, or
`REPROKIT_CONTAINERS_HOME`): the containers.conf and storage.conf the tools are pointed to
(`CONTAINERS_CONF`, `CONTAINERS_STORAGE_CONF`), the image store, and the base image, built
once from Debian with debootstrap (nothing pulled from a registry) and keyed by its recipe.
`python -m reprokit.containers` is the command line the Makefile's image targets call.
"""
