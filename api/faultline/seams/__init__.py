"""Seams: the only modules that touch a dependency's private names, one module per dependency.

The rule (tests/unit/test_seams.py enforces it): nothing else in `faultline` imports a `_private`
module or name of a dependency, overrides a `_private` method or reads a `_private` attribute.
Each seam exists because the dependency has no public way to do what the lab needs, says which
private names it relies on, and tests/unit/test_seams.py checks each of them against the
installed version, so an upgrade that moves one fails loudly instead of silently measuring nothing.

    asyncpg        every pool acquisition and every statement pass through one method each
                   (`Pool._acquire`, `Connection._execute`): the bounded, measured pool and the
                   slow-query fault hook in there
    opentelemetry  the log signal's SDK classes (`opentelemetry.sdk._logs`): the logs API is still
                   underscored in the SDK (1.45)
"""
