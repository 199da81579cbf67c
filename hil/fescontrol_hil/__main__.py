"""``python -m fescontrol_hil SUBCOMMAND ...``, the same as the ``fescontrol-hil`` command."""

import sys

from fescontrol_hil.cli import main

sys.exit(main())
