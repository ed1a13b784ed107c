"""Inference as a service: a Triton model repository whose Python-backend model runs a
hepinfer backend, and the bundled ``tritonserver`` started on it (the SONIC pattern)."""
