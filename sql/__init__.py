"""The SQL of dict-connect, shipped inside the package: ``migrations/`` (the schema,
applied in order by ``app.migrate``) and ``queries/`` (named queries, loaded by
``app.db``). Nothing here is Python: this file only makes the folder a package, so
the .sql files travel in the wheel and are read with ``importlib.resources``
wherever dict-connect is installed (docs/architecture.md, "Packaging").
"""
