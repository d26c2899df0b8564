"""Convert the package's ONNX export into a MindIR that a MindSpore Lite runtime reads:
python cpp_infer/convert_onnx.py MODEL.onnx [--output STEM]   ->  STEM.mindir (+ STEM.mindir.json)

Why: a MINDIR exported by MindSpore 2.8 is MindIR version 3, which 2.0 runtimes refuse ("maximum mind ir version:
1"). Converting the ONNX export with the runtime's own converter gives a file that runtime reads. Run it with the
Python that has the runtime's `mindspore-lite` wheel (2.0.0 exists for Python 3.7 only), which is why this script
stands alone: it needs neither MindSpore nor an installed wrn package (only this repository's wrn/serving, plain
Python 3.7, which reads and writes the sidecar). The export's JSON sidecar is carried over, so run_infer_310.sh
finds the batch size and the recipe's normalisation.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.serving.sidecar import Sidecar, path_of  # noqa: E402


def convert(onnx: Path, stem: Path) -> dict:
    import mindspore_lite as mslite

    mslite.Converter().convert(fmk_type=mslite.FmkType.ONNX, model_file=str(onnx), output_file=str(stem))
    mindir = Path(str(stem) + ".mindir")
    if not mindir.is_file():
        raise RuntimeError("the converter wrote no {} (see its messages above)".format(mindir))
    return carry_sidecar(onnx, mindir, "mindspore-lite " + mslite.__version__)


def carry_sidecar(onnx: Path, mindir: Path, converter: str) -> dict:
    """The ONNX export's sidecar as the converted MINDIR's (its file, format and checksum, where it came from);
    without one (an ONNX file from elsewhere) nothing is written and run_infer_310.sh takes its defaults."""
    details = {"file": mindir.name, "file_format": "MINDIR", "path": str(mindir.resolve()),
               "sha256": hashlib.sha256(mindir.read_bytes()).hexdigest(), "sidecar": str(path_of(mindir)),
               "converted_from": onnx.name, "converter": converter}
    if not path_of(onnx).is_file():
        return details
    source = Sidecar.read(path_of(onnx), error=RuntimeError)
    carried = source.replace(file=details["file"], file_format=details["file_format"], sha256=details["sha256"],
                             extra={**source.extra, **{key: details[key] for key in
                                                       ("path", "sidecar", "converted_from", "converter")}})
    carried.write(path_of(mindir))
    return carried.to_dict()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx", type=Path, help="an ONNX file written by local/export.py --file_format ONNX")
    parser.add_argument("--output", type=Path, default=None,
                        help="output path without .mindir (default: beside the ONNX file, <name>_lite)")
    args = parser.parse_args(argv)
    if not args.onnx.is_file():
        print("error: ONNX file {} does not exist".format(args.onnx), file=sys.stderr)
        return 2
    try:
        import mindspore_lite  # noqa: F401
    except ImportError:
        print("error: mindspore_lite is not importable by {}: run this with the Python that has the runtime's "
              "mindspore-lite wheel (make test-cpp builds .venv-lite)".format(sys.executable), file=sys.stderr)
        return 2
    stem = args.output or args.onnx.with_name(args.onnx.stem + "_lite")
    try:
        details = convert(args.onnx, stem)
    except RuntimeError as exc:
        print("error: converting {}: {}".format(args.onnx, exc), file=sys.stderr)
        return 1
    print(json.dumps(details, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
