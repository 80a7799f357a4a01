"""Content keys and the environment that can change bytes: the identity of a result."""
