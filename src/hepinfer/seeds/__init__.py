"""The seed studies (issue 11), re-measured: sweep configurations in benchmarks/seeds/, the
published figures (``published.STUDIES``), the comparison (``analysis``) and the page
(``page``, docs/seeds.md). Run with ``python -m hepinfer.seeds [--quick] [--study N]``."""
