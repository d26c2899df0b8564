"""python -m wrn.cli COMMAND [ARGS...]"""

import sys

from wrn.cli import COMMANDS, run

if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
    print(f"usage: python -m wrn.cli {{{','.join(COMMANDS)}}} [ARGS...]", file=sys.stderr)
    sys.exit(2)
sys.exit(run(COMMANDS[sys.argv[1]], sys.argv[2:]))
