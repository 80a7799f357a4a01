"""Identity of a result: the environment that can change its bytes (environment), and
`reprokit lineage`, which walks and verifies the chain from a served prediction to data,
code and commit (verify: the pure checks; trace: reading the stores; render: table, JSON)."""
