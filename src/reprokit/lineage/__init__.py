"""`reprokit lineage`: walk and verify the chain from a served prediction to data, code and
commit (verify: the pure checks; trace: reading the stores; render: table and JSON)."""
