"""``python -m hepinfer``: the same as the ``hepinfer`` command."""

import sys

from hepinfer.cli.main import main

sys.exit(main())
