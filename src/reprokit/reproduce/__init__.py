"""`reprokit reproduce RUN_ID`: rerun a recorded run and check it gives the same model file
and the same metrics, bit for bit.

The run's composed config and the content hashes of its input data fully determine its
result (the fingerprint's promise), so the rerun needs only those, the code and the lock
file. It happens in a throwaway workspace: the user's working tree, params.yaml, outputs
and tracking store are never written. The input data is found by its recorded md5: the
workspace file if it still has that content, else DVC's cache.

- `recorded`: the run's artifacts, downloaded and checked; `inputs`: its input data, found
- `notes`: what differs here from the run (code, lock file, environment), said up front
- `workspace`: the isolated copy the rerun runs in; `worktree`: the run's commit (--at-commit)
- `rerun`: the pipelines rerun, in process or with another commit's code
- `verdict`: recorded against reproduced, and its rendering
- `run`: one run end to end; `sweeps`: every job of a sweep, and `reprokit reproduce` (either)
"""
