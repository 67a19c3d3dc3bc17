"""The native lab: `make lab` (and `make up` with no Docker engine) runs this.

    python scripts/lab.py up | down | status

What it starts and how: labkit/native_lab.py.
"""

import sys

from labkit.native_lab import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
