"""``python -m hepinfer.seeds``: run the seed studies and write their page."""

import sys

from hepinfer.seeds.run import main

sys.exit(main())
