#!/usr/bin/env python3
"""nasgraph command line: `python launch.py search` runs a real search on the embedded digits dataset.

python launch.py search --controller evolution --trials 24 --epochs 8
python launch.py show results/digits-evolution
python launch.py export results/digits-evolution --trial best --out exported/
"""

import sys

from nas.cli import main

if __name__ == "__main__":
    sys.exit(main())
