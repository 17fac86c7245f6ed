"""``python -m emulator``: run the SuperDuper API emulator."""

import sys

from emulator.cli import main

sys.exit(main())
