"""`python -m core.cli` runs the same CLI as the `babyllama` console script."""

import sys

from core.cli import main

sys.exit(main())
