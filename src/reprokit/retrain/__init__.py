"""`reprokit retrain`: a new labelled batch -> checks -> drift report -> raw data -> `dvc repro`
-> the quality gate and the promotion rule decide; every decision recorded in MLflow."""
