"""Where a model runs: the Backend interface, the registry, one module per backend."""
