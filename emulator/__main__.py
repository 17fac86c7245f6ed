"""``python -m emulator``: run the SuperDuper API emulator."""

import sys

from emulator.superduper.cli import main

sys.exit(main())
