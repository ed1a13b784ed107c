"""One configuration in a worker process, and the runs of many configurations."""
