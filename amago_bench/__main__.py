import sys

from amago_bench.cli import main

sys.exit(main())
