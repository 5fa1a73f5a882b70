"""``python -m warroom.cli``."""

import sys

from warroom.cli import main

sys.exit(main())
