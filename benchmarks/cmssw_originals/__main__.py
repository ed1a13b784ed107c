"""``python benchmarks/cmssw_originals``: the CMS originals against their ONNX twins."""

import sys
from pathlib import Path

# Run as a folder, this is a script: its package is found beside it, in benchmarks/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cmssw_originals.run import main

sys.exit(main())
