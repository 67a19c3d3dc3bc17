"""labkit: the lab's parts as local processes, written once for everyone who starts them.

The native lab (`scripts/lab.py`, built on `native_lab`), the tests and the benchmarks start
PostgreSQL, Redis, Prometheus and the API through these modules, so each server is started one way:

    net          ports: a free one, is one open or bindable, wait until something answers
    processes    is a pid ours and alive (start times), wait for a process to be ready
    postgres     a PostgreSQL cluster from Debian's binaries (initdb, pg_ctl, psql)
    redis        redis-server from a generated config file
    prometheus   Prometheus on the project's own config, and a small PromQL client
    api          the Faultline API and control service as processes (migrations, seed, serve)
    servers      PostgreSQL and Redis for tests and benchmarks: by URL, testcontainers or local
    native_lab   the whole lab as local processes (`make lab` on a machine with no Docker engine)

Not shipped in the API image: it is declared in pyproject.toml for the repository's own tools.
"""
