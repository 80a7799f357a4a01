"""Sweeps: Hydra multirun, Optuna search and node reuse over one composed config."""
