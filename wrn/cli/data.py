"""python -m wrn.cli data: get, make or check a data folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence


def data_main(argv: Sequence[str] | None = None) -> int:
    """python -m wrn.cli data download|make-demo|check DIR: get, make or check a CIFAR-10 or CIFAR-100 binary folder."""
    from wrn.cifar import FORMATS, check_layout, download, find_layout, make_demo

    parser = argparse.ArgumentParser(prog="python -m wrn.cli data", description=data_main.__doc__, allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("download", help="fetch the official binary archive into DIR/train + DIR/eval (MD5-checked)")
    get.add_argument("--url", default=None, help="a mirror of the official archive")
    get.add_argument("--md5", default=None, help="the archive's MD5 (default: the official one)")
    demo = sub.add_parser("make-demo", help="write the scikit-learn digits as a set in the dataset's format into DIR")
    check = sub.add_parser("check", help="check the layout and every file of a data folder")
    for command in (get, demo, check):
        command.add_argument("dir", type=Path)
        command.add_argument("--dataset", default="cifar10", choices=sorted(FORMATS))
    check.add_argument("--label", default="fine", choices=("fine", "coarse"))
    args = parser.parse_args(argv)
    if args.command == "download":
        layout = download(args.dir, args.url, args.md5, dataset=args.dataset)
    elif args.command == "make-demo":
        layout = make_demo(args.dir, dataset=args.dataset)
    else:
        layout = find_layout(args.dir, args.dataset, args.label)
    print(check_layout(layout))
    return 0
