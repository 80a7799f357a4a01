"""Content keys: the one place where reprokit hashes data, code and params.

- `files`: a file's md5 as DVC records it (DVC's own hashing), sha256, folders, the lock
  file, where DVC's cache keeps a file with a given md5.
- `code`: the project source files a node's code depends on (its modules, their imports,
  relative ones too) and their hash.
- `params`: the config that can change a result, the params a node binds, canonical hashes.
- `fingerprint`: what fully determines an execution's result, composed from the above.

On the ground floor (imports no other reprokit package but `core`): DVC generation, the node
cache, tracking, reproduce and lineage all key content through it, so no upper layer is
imported to compute a hash.
"""
