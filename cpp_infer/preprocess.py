"""Write the eval split as the Ascend310 app's input: python cpp_infer/preprocess.py --data_url DIR --output DIR
[--config NAME] [--batch_size B]  (img_data/*.bin float32 NCHW normalised, label/*.bin int32)."""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import run  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_url", required=True)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--config", default="wrn40_10", help="recipe whose mean/std normalise the images")
    parser.add_argument("--batch_size", type=int, default=1, help="the exported model's batch size")
    args = parser.parse_args(argv)
    from wrn.config import load_config
    from wrn.infer import preprocess

    print(json.dumps(preprocess(load_config(args.config), args.data_url, args.output, args.batch_size)))
    return 0


sys.exit(run(main))
