"""Config: Hydra composition, typed validation with clear errors, params.yaml I/O."""
