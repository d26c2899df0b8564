"""Accuracy of the Ascend310 app's results: python cpp_infer/postprocess.py --result_dir DIR --label_dir DIR
[--output acc.log]  (fails if any result file is missing or of the wrong size)."""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import run  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--result_dir", required=True, type=Path)
    parser.add_argument("--label_dir", required=True, type=Path)
    parser.add_argument("--output", default=Path("acc.log"), type=Path)
    parser.add_argument("--num_classes", type=int, default=10)
    args = parser.parse_args(argv)
    from wrn.infer import postprocess

    print(json.dumps(postprocess(args.result_dir, args.label_dir, args.output, args.num_classes)))
    return 0


sys.exit(run(main))
