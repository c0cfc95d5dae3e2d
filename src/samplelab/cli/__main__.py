"""``python -m samplelab.cli``."""

import sys

from samplelab.cli import main

sys.exit(main())
