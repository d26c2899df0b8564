"""python -m wrn.cli ranktable: what the shell scripts ask of a rank table (scripts/run_distribute_train.sh)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence


def ranktable_main(argv: Sequence[str] | None = None) -> int:
    """python -m wrn.cli ranktable devices FILE: how many devices a server of the rank table has (the most any
    server lists), read by the launch's own parser; a bad file is one error line."""
    parser = argparse.ArgumentParser(prog="python -m wrn.cli ranktable", description=ranktable_main.__doc__,
                                     allow_abbrev=False)
    parser.add_argument("query", choices=("devices",))
    parser.add_argument("table", type=Path, help="a rank table (JSON: server_list, or ModelArts' group_list)")
    args = parser.parse_args(argv)
    from wrn.platform.ranktable import devices_per_server

    print(devices_per_server(args.table))
    return 0
