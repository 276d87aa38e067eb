"""The core: hookspecs, plugins, registries, sessions, the run config, records and
interfaces. It imports nothing above it, and no heavy ML library."""
