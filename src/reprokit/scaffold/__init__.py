"""`reprokit new`: a dataset's config from its file (read options, schema, roles, task).

`detect` finds how to read a CSV, `infer` turns the table into the project's schema, roles
and task, `project` writes the config files and tracks the file. The first two are pure.
"""
