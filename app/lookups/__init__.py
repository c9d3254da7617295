"""Key lookups for payments: the DICT's getEntry behind our own anti-scan buckets,
caches and book-transfer check, all held in Redis so a lookup never waits on
PostgreSQL (``docs/lookups.md``).

- ``keys``: the Redis key of every copy, in one place
- ``buckets``: token buckets in Redis, updated atomically by one Lua script
- ``index``: keeping the Redis copies in step with our entries and claims (a cron)
- ``service``: a lookup, a payment credit, a checkKeys, as the API runs them
- ``metrics``: what operators and the BCB's thresholds watch
"""
