"""The seed studies (issue 11), re-measured: repository tooling on top of hepinfer's API.

This folder holds the sweep configurations (``studyN_*.yaml``, ``*.quick.yaml``), the
published figures (``published.STUDIES``), the driver (``run``), the comparison
(``analysis``, ``studies``) and the page (``page``, docs/seeds.md). Run from the repository
root with ``python benchmarks/seeds [--quick] [--study N]`` (``make demo`` runs the quick mode);
it needs hepinfer installed with its extras (``pip install 'hepinfer[all]'``), editable or not.
"""
