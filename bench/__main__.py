"""``python -m bench`` (from the repository root) = ``python bench/run.py``: the benchmark harness."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench scripts import their siblings by name

from run import main

sys.exit(main())
