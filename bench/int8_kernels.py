"""Which CPU instructions run an INT8 ONNX model: AMX tiles, AVX512-VNNI, or neither? ONNX Runtime's verbose log and
profiler name operators (QLinearConv), not the MLAS kernel they dispatch to, and the wheel is stripped; so this
samples the process with `perf record` and disassembles (objdump) the code around every sampled address of
ONNX Runtime's library, counting samples by the instruction family found there.

usage: python bench/int8_kernels.py MODEL.onnx [--seconds 5] [--threads N]   (needs perf and objdump; last line: JSON)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# Instruction families, most specific first; a sampled address is counted under the first family found within
# WINDOW bytes before it (the loop body it sits in).
FAMILIES = (
    ("AMX-INT8 (tdpb*d)", re.compile(r"\ttdpb[su][su]d\b")),
    ("AMX-BF16 (tdpbf16ps)", re.compile(r"\ttdpbf16ps\b")),
    ("AVX512-VNNI (vpdpbusd zmm)", re.compile(r"\tvpdpbusds?\s.*%zmm")),
    ("AVX-VNNI / VNNI ymm (vpdpbusd)", re.compile(r"\t(\{vex\} )?vpdpbusds?\b")),
    ("AVX512BW/AVX2 without VNNI (vpmaddubsw)", re.compile(r"\tvpmaddubsw\b")),
    ("FP32 FMA (vfmadd)", re.compile(r"\tvfmadd")),
    ("thread pool spin-wait (pause/tpause)", re.compile(r"\t(t?pause|umwait)\b")),
)
WINDOW = 96

LOOP = """
import sys, time, numpy as np
sys.path.insert(0, {root!r})
from wrn.deploy.runners import onnx_session
session = onnx_session({model!r}, {threads})
spec = session.get_inputs()[0]
x = np.zeros(spec.shape, np.uint8 if "uint8" in spec.type else np.float32)
end = time.time() + {seconds}
while time.time() < end:
    session.run(None, {{spec.name: x}})
"""


def sampled_addresses(model: Path, seconds: float, threads: int | None, work: Path) -> tuple[Counter, int, str]:
    data = work / "perf.data"
    code = LOOP.format(root=str(Path(__file__).resolve().parents[1]), model=str(model), seconds=seconds,
                       threads=threads)
    subprocess.run(["perf", "record", "-F", "997", "-o", str(data), sys.executable, "-c", code], check=True,
                   capture_output=True)
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "dso,sym", "-F",
                             "sample,dso,sym"], check=True, capture_output=True, text=True).stdout
    counts, total, library = Counter(), 0, ""
    for line in report.splitlines():
        found = re.match(r"\s*(\d+)\s+(\S+)\s+\[\.\]\s+0x([0-9a-f]+)", line)
        number = re.match(r"\s*(\d+)\s", line)
        if number:
            total += int(number.group(1))
        if found and "onnxruntime" in found.group(2):
            counts[int(found.group(3), 16)] += int(found.group(1))
            library = found.group(2)
    return counts, total, library


def family_at(shared_object: Path, address: int) -> str:
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={address - WINDOW}",
                           f"--stop-address={address + 16}", str(shared_object)], capture_output=True,
                          text=True).stdout
    for name, pattern in FAMILIES:
        if pattern.search(text):
            return name
    return "other code in ONNX Runtime (packing, requantizing, layout)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--top", type=int, default=400, help="hottest addresses disassembled (400)")
    args = parser.parse_args()
    missing = [tool for tool in ("perf", "objdump") if shutil.which(tool) is None]
    if missing:
        print(f"error: {' and '.join(missing)} not found (apt-get install linux-perf binutils)", file=sys.stderr)
        return 2
    import onnxruntime

    shared_object = next(Path(onnxruntime.__file__).parent.glob("capi/onnxruntime_pybind11_state*.so"))
    with tempfile.TemporaryDirectory(prefix="wrn-int8-kernels-") as work:
        counts, total, _ = sampled_addresses(args.model, args.seconds, args.threads, Path(work))
    families: Counter = Counter()
    for address, samples in counts.most_common(args.top):
        families[family_at(shared_object, address)] += samples
    in_library = sum(counts.values())
    families["other code in ONNX Runtime (packing, requantizing, layout)"] += in_library - sum(families.values())
    families["outside ONNX Runtime (Python, numpy, kernel)"] = total - in_library
    shares = {name: round(100 * samples / max(total, 1), 1) for name, samples in families.most_common()}
    print(f"{args.model.name}: {total} samples, {100 * in_library / max(total, 1):.0f} % in ONNX Runtime "
          f"{onnxruntime.__version__}")
    for name, share in shares.items():
        print(f"  {share:5.1f} %  {name}")
    print(json.dumps({"benchmark": "int8_kernels", "model": str(args.model), "onnxruntime": onnxruntime.__version__,
                      "samples": total, "percent_of_samples": shares}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
