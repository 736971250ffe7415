import sys

from opsroom.cli import main

sys.exit(main())
