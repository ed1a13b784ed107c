"""``python benchmarks/seeds``: run the seed studies and write their page."""

import sys
from pathlib import Path

# Run as a folder, this is a script: its package is found beside it, in benchmarks/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seeds.run import main

sys.exit(main())
