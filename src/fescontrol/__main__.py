import sys

from fescontrol.cli import main

sys.exit(main())
