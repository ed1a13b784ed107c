"""``python -m hepinfer``: the ``hepinfer`` command."""

import sys

from hepinfer.cli.main import main

sys.exit(main())
