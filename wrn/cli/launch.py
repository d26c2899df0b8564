"""launch.py (local/ and modelarts/): one node of an msrun launch of train.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from wrn.errors import WrnError


def launch_main(argv: Sequence[str] | None = None, platform: bool = False) -> int:
    """One node of an msrun launch: `N [--dry-run] [train arguments]` offline (node variables NODES, NODE_RANK,
    MASTER_ADDR, MASTER_PORT), `[--dry-run] [train arguments]` on ModelArts (the platform's node variables)."""
    from wrn.platform import launch

    argv = list(sys.argv[1:] if argv is None else argv)
    dry_run = "--dry-run" in argv
    argv = [a for a in argv if a != "--dry-run"]
    root = Path(__file__).resolve().parents[2]  # the checkout: local/ and modelarts/ beside wrn/
    workers = None
    if not platform:
        if not argv or not argv[0].isdigit() or int(argv[0]) < 1:
            raise WrnError(f"expected the number of workers on this node first (an integer >= 1), got "
                           f"{argv[0] if argv else 'nothing'!r}: N [--config=NAME --data_url=... --train_url=...]")
        workers, argv = int(argv[0]), argv[1:]
    elif launch.per_card_duplicate(os.environ):
        # ModelArts' default (rank table) start runs the boot file once per card: card 0 launches the node.
        print("msrun launch: this node's launch runs on card 0; nothing to do on this card", flush=True)
        return 0
    plan = launch.plan_from_env(os.environ, workers)
    script = root / ("modelarts" if platform else "local") / "train.py"
    if dry_run:
        print(launch.plan_text(plan, script, argv))
        return 0
    return launch.run_node(plan, script, argv)


def local_launch_main(argv: Sequence[str] | None = None) -> int:
    return launch_main(argv)


def modelarts_launch_main(argv: Sequence[str] | None = None) -> int:
    return launch_main(argv, platform=True)
