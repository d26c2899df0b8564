"""Export a checkpoint (local or obs://) to MINDIR, ONNX or AIR, verified against the checkpoint network."""

from __future__ import annotations

import glob
import inspect
import logging
from pathlib import Path

import numpy as np

from wrn import signals
from wrn.config import Config
from wrn.deploy.rawinput import RAW, check_input_kind, input_spec, normalisation_record, normalised
from wrn.deploy.quantize import QuantizeRequest
from wrn.errors import WrnError
from wrn.faults import kill_point
from wrn.fileio import sha256_of
from wrn.serving.sidecar import Sidecar, path_of

log = logging.getLogger("wrn")

# MindSpore 2.8 writes MindIR version 3; 2.0 runtimes read at most version 1 (verified with mindspore-lite 2.0.0).
RUNTIME_NOTE = ("read by MindSpore runtimes of version {version} or newer; for an older inference runtime (e.g. an "
                "Ascend310 container with 2.0) export with that runtime's MindSpore version, or export ONNX and "
                "convert it with that runtime's converter (cpp_infer/convert_onnx.py)")
FORMATS = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}
TOLERANCE = 1e-5
# The verification runs one batch through the network in memory: WRN-40-10 at 1024 images needs several GB.
MAX_BATCH = 1024


class ExportError(WrnError):
    """An export cannot be made or does not reproduce the checkpoint network."""


def check_format(file_format: str, device_target: str) -> str:
    """Called before anything heavy is loaded: AIR needs Ascend, so elsewhere it fails at once."""
    fmt = file_format.upper()
    if fmt not in FORMATS:
        raise ExportError(f"file_format {file_format!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "AIR" and device_target != "Ascend":
        raise ExportError(f"file_format AIR needs an Ascend device (this is {device_target}); export MINDIR here, "
                          "or run the export_air job on ModelArts")
    return fmt


def verification_batch(batch_size: int) -> np.ndarray:
    """A fixed, normalised-looking input batch, the same for every export and check."""
    return np.random.default_rng(20160523).normal(size=(batch_size, 3, 32, 32)).astype(np.float32)


def raw_verification_batch(batch_size: int) -> np.ndarray:
    """A fixed batch of uint8 NHWC pixels over the whole 0-255 range, the same for every raw export and check."""
    return np.random.default_rng(20160523).integers(0, 256, size=(batch_size, 32, 32, 3), dtype=np.uint8)


def default_stem(cfg: Config, batch_size: int, input_kind: str = "normalised") -> str:
    """wrn<depth>_<width>_b<batch>, with `_raw` for a model that takes raw pixels."""
    return f"wrn{cfg.depth}_{cfg.widen_factor}_b{batch_size}" + ("_raw" if input_kind == RAW else "")


def export(cfg: Config, checkpoint: str, file_format: str, batch_size: int, train_url: str,
           scratch: str | None = None, file_stem: str | None = None, input_kind: str = "normalised",
           int8: QuantizeRequest | None = None) -> dict:
    """Write `checkpoint`'s network as `file_format` (batch `batch_size`) with a JSON sidecar into train_url, named
    `file_stem` + the format's suffix (default `default_stem`).

    input_kind "normalised" (the default): the model takes the normalised float32 NCHW batch, and an ATC AIPP
    config (`<stem>.aipp.cfg`, see `wrn.deploy.aipp`) is written beside it. "raw": the model takes uint8 NHWC pixels
    as decoded from an image file [B, 32, 32, 3]; the cast, / 255, the recipe's (x - mean) / std and the NHWC -> NCHW
    transpose are inside the exported graph.

    `int8` (an ONNX export only): also an INT8 model of it, checked on `int8.data_url` (`wrn.deploy.quantize`)."""
    from wrn.platform import runtime

    if not 1 <= batch_size <= MAX_BATCH:
        raise ExportError(f"batch_size {batch_size}: expected an integer in [1, {MAX_BATCH}] (the exported model's "
                          "fixed batch; the export runs it once on a batch of that size to verify it)")
    input_kind = check_input_kind(input_kind)
    target = runtime.available_device() if cfg.device_target == "auto" else cfg.device_target
    fmt = check_format(file_format, target)
    if int8 is not None:
        int8.check(fmt)

    import mindspore as ms

    from wrn.platform.staging import StagingOptions
    from wrn.builder.build import load_network, setup_runtime
    from wrn.output.logs import setup_logging
    from wrn.output.rundir import open_run

    topology = setup_runtime(cfg)
    signals.graceful_from_here()  # MindSpore is up: a signal now stops the export cleanly (nothing half-written)
    options = StagingOptions.from_env(scratch)
    with open_run(str(train_url), topology.rank, options) as run:
        setup_logging(run.root / "export.log", topology.rank)
        net = load_network(cfg, checkpoint, topology, options)
        if input_kind == RAW:
            from wrn.deploy.rawnet import RawImageNetwork

            # The reference is the checkpoint network fed the batch normalised in numpy, as the runners do it.
            batch = raw_verification_batch(batch_size)
            expected = net(ms.Tensor(normalised(batch, cfg.mean, cfg.std))).asnumpy()
            exported = RawImageNetwork(net, cfg.mean, cfg.std)
        else:
            batch = verification_batch(batch_size)
            expected = net(ms.Tensor(batch)).asnumpy()
            exported = net
        checks = []

        def produce(temp: Path) -> None:
            ms.export(exported, ms.Tensor(batch), file_name=str(temp), file_format=fmt)
            kill_point("export-written", 0)
            checks.append(_verify(fmt, temp, batch, expected))

        stem = file_stem or default_stem(cfg, batch_size, input_kind)
        for leftover in run.root.glob(f".{glob.escape(stem)}.*.tmp*"):  # of an export of this name that was killed
            log.info("removing %s, left by an interrupted export", leftover.name)
            leftover.unlink(missing_ok=True)
        final = run.write(run.root / f"{stem}{FORMATS[fmt]}", produce, suffix=FORMATS[fmt])
        # ONNX Runtime reports the input's name; MindSpore names a MINDIR/AIR input after construct's parameter.
        difference, input_name = checks[0]
        input_name = input_name or next(iter(inspect.signature(exported.construct).parameters))
        sidecar = Sidecar(
            config=cfg.name, depth=cfg.depth, widen_factor=cfg.widen_factor, num_classes=cfg.num_classes,
            dataset=cfg.dataset, label=cfg.label, checkpoint=str(checkpoint), file=final.name, file_format=fmt,
            **input_spec(input_kind, batch_size), normalisation=normalisation_record(input_kind, cfg.mean, cfg.std),
            mindspore=ms.__version__, sha256=sha256_of(final), max_abs_difference_vs_checkpoint=difference,
            input_name=input_name,  # atc --input_shape NAME:B,C,H,W (cpp_infer/convert_om.sh)
            runtime_note=RUNTIME_NOTE.format(version=ms.__version__) if fmt == "MINDIR" else None)
        if input_kind != RAW:
            from wrn.deploy.aipp import AippError, aipp_config

            try:
                aipp = run.write_text(final.with_name(f"{stem}.aipp.cfg"), aipp_config(sidecar))
                sidecar = sidecar.replace(aipp_config=aipp.name)
            except AippError as exc:  # a normalisation AIPP cannot express costs the config, not the export
                log.warning("no ATC AIPP config for %s: %s", final.name, exc)
        sidecar_path = run.write_text(path_of(final), sidecar.to_json())
        log.info("exported %s (%s, %s input, max |difference| vs checkpoint %s)", run.location(final.name), fmt,
                 input_kind, difference)
        result = {**sidecar.to_dict(), "path": run.location(final.name), "sidecar": run.location(sidecar_path.name)}
        if int8 is not None:
            result["int8"] = int8.write(run, final, sidecar, topology.local_rank, options)
        return result


def _verify(fmt: str, path: Path, batch: np.ndarray, expected: np.ndarray) -> tuple[float | None, str | None]:
    """Run the exported file on `batch`; it must match the checkpoint network within TOLERANCE of the largest logit.
    Returns the largest difference and the input's name when the file's runtime tells it (ONNX)."""
    if fmt == "AIR":
        return None, None  # AIR runs only through ATC / the Ascend310 runtime
    name = None
    if fmt == "MINDIR":
        import mindspore as ms
        import mindspore.nn as nn

        got = nn.GraphCell(ms.load(str(path)))(ms.Tensor(batch)).asnumpy()
    else:
        try:
            import onnxruntime
        except ImportError:
            raise ExportError("ONNX verification needs onnxruntime: pip install onnxruntime") from None
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        got = session.run(None, {name: batch})[0]
    difference = float(np.abs(got - expected).max())
    # Relative to the logits' scale: float32 rounding grows with it (a wide network's logits reach tens).
    allowed = TOLERANCE * max(1.0, float(np.abs(expected).max()))
    if not np.isfinite(difference) or difference > allowed:
        raise ExportError(f"exported {fmt} output differs from the checkpoint network by {difference:.3g} "
                          f"(> {allowed:.3g}: {TOLERANCE} of the largest logit); the file was not kept")
    return difference, name
