"""The core: plugin discovery, registries, configs and the CLI. No heavy ML imports here."""
