"""The Feast feature store: a feature repo generated from conf/, materialized by a DVC stage.

`spec` and `render` are pure (no Feast import, so `reprokit dvc check` stays fast); `store`
is the only module that imports Feast, and only the commands and the stage that use it load it.
"""
