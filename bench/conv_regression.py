"""Is the installed MindSpore's CPU 3x3 convolution healthy? Times a 3x3 against a 1x1 conv (32x64x32x32).

usage: python bench/conv_regression.py   (exit status 1 when the slow kernel is back; last line: JSON)
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GLOG_v", "3")

from wrn.platform.perfcheck import SLOW_RATIO, conv_ratio  # noqa: E402

result = conv_ratio(batch=32, repeats=5)
verdict = (f"SLOW: 3x3 conv is {result['ratio']:.0f}x a 1x1 conv (> {SLOW_RATIO:.0f}): the oneDNN reference kernel; "
           f"pin mindspore==2.8.0 on CPU" if result["slow"] else
           f"OK: 3x3 conv is {result['ratio']:.1f}x a 1x1 conv (<= {SLOW_RATIO:.0f}), fast kernels in use")
print(f"MindSpore {result['mindspore']}: 3x3 {result['conv3x3_s'] * 1000:.1f} ms, 1x1 {result['conv1x1_s'] * 1000:.1f} ms")
print(verdict)
print(json.dumps({"benchmark": "conv_regression", **result, "verdict": verdict.split(":")[0]}))
sys.exit(1 if result["slow"] else 0)
