"""Business operations. They speak in schemas and domain errors, never in HTTP."""
