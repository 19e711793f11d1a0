"""`python -m bench.repair`, the same as `python -m bench repair`."""

import sys

from bench.repair.run import main

sys.exit(main(sys.argv[1:]))
