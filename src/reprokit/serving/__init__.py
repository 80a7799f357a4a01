"""Serving: package the trained pipeline as a BentoML model and serve it over HTTP.

The service uses the training schema (minus the target), the training feature code and
the LightGBM text model, so a request is scored exactly as the test split was offline.
Nothing here imports training code (`reprokit.nodes.train`, MLflow logging paths) and
nothing happens on import: bentoml, lightgbm and mlflow are imported where they are used.
"""
