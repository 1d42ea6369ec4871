import sys

from opdcheck.cli import main

sys.exit(main())
