"""The ATC AIPP configuration of a float export: Ascend's AI pre-processing turns uint8 RGB pixels into the recipe's
normalised input, so an OM converted with it (`atc --insert_op_conf`, cpp_infer/convert_om.sh) takes raw pixels.

CANN ATC documentation (the pages this follows):
- "Normalization Configuration": pixel_out_chx(i) = [pixel_in_chx(i) - mean_chn_i - min_chn_i] * var_reci_chn_i
  https://www.hiascend.com/document/detail/en/CANNCommunityEdition/900/devaids/atctool/atlasatc_16_0022.html
- "Configuration File Template" (prototxt; aipp_mode, input_format RGB888_U8, src_image_size_w/h, csc_switch,
  rbuv_swap_switch, mean_chn_i in [0, 255], min_chn_i in [0, 255], var_reci_chn_i in [-65504, 65504])
  https://www.hiascend.com/document/detail/en/canncommercial/800/devaids/atc/atlasatc_16_0025.html
- "--insert_op_conf": with an AIPP config the model's input data type is UINT8
  https://www.hiascend.com/document/detail/zh/canncommercial/80RC1/devaids/auxiliarydevtool/atlasatc_16_0078.html

The recipe computes (pixel / 255 - mean) / std with mean, std in [0, 1]; that is the documented formula with
mean_chn_i = 0, min_chn_i = 255 * mean_i and var_reci_chn_i = 1 / (255 * std_i).
"""

from __future__ import annotations

from pathlib import Path

from wrn.errors import WrnError
from wrn.serving.sidecar import Sidecar

NORMALISATION_PAGE = ("CANN ATC \"Normalization Configuration\": https://www.hiascend.com/document/detail/en/"
                      "CANNCommunityEdition/900/devaids/atctool/atlasatc_16_0022.html")
TEMPLATE_PAGE = ("CANN ATC \"Configuration File Template\" (AIPP): https://www.hiascend.com/document/detail/en/"
                 "canncommercial/800/devaids/atc/atlasatc_16_0025.html")
FP16_MAX = 65504.0


class AippError(WrnError):
    """An AIPP configuration cannot be written for this model."""


def aipp_parameters(mean: list[float], std: list[float]) -> dict:
    """mean_chn_i, min_chn_i, var_reci_chn_i per RGB channel for the recipe's (pixel / 255 - mean) / std."""
    means, mins, reciprocals = {}, {}, {}
    for channel, (m, s) in enumerate(zip(mean, std)):
        if not 0.0 <= m <= 1.0:
            raise AippError(f"normalisation mean[{channel}] = {m}: expected a value in [0, 1] (AIPP's min_chn_"
                            f"{channel} = 255 * mean must lie in [0, 255])")
        if not s > 0 or 1.0 / (255.0 * s) > FP16_MAX:
            raise AippError(f"normalisation std[{channel}] = {s}: expected a value > {1 / (255 * FP16_MAX):.3g} "
                            f"(AIPP's var_reci_chn_{channel} = 1 / (255 * std) must be at most {FP16_MAX:g})")
        means[f"mean_chn_{channel}"] = 0
        mins[f"min_chn_{channel}"] = 255.0 * m
        reciprocals[f"var_reci_chn_{channel}"] = 1.0 / (255.0 * s)
    return {**means, **mins, **reciprocals}  # grouped as the template lists them


def aipp_config(sidecar: Sidecar) -> str:
    """The static AIPP config (prototxt) for the float export that `sidecar` describes."""
    normalisation, name, shape = sidecar.normalisation, sidecar.file, sidecar.input_shape
    if sidecar.raw_input:
        raise AippError(f"{name} normalises inside its graph (input {sidecar.input_dtype} {sidecar.input_layout}): "
                        "AIPP would normalise twice; convert the float export (export without --input raw) with "
                        "AIPP instead")
    if shape[1] != 3:
        raise AippError(f"{name}: input_shape {list(shape)}: expected [B, 3, H, W] (NCHW RGB)")
    params = aipp_parameters(list(normalisation.mean), list(normalisation.std))
    height, width = int(shape[2]), int(shape[3])
    lines = [
        f"# ATC AIPP configuration for {Path(name).stem} (batch {shape[0]}; any of its float exports: .air, .onnx,",
        "# .mindir), written from its sidecar by wrn.",
        "# With it the OM model takes uint8 RGB pixels, NHWC [B, H, W, 3], as decoded from an image file, and",
        "# normalises them on the AI Core before the network: nothing else may normalise them again.",
        f"# Arithmetic ({NORMALISATION_PAGE}):",
        "#   pixel_out_chx(i) = [pixel_in_chx(i) - mean_chn_i - min_chn_i] * var_reci_chn_i",
        "# The recipe's (pixel / 255 - mean) / std is that with mean_chn_i = 0, min_chn_i = 255 * mean_i,",
        f"# var_reci_chn_i = 1 / (255 * std_i); mean = {list(normalisation.mean)}, std = {list(normalisation.std)}.",
        "# AIPP hands the network float16, so each normalised value reaches it rounded to float16 (relative error",
        "# at most 2^-11, about 5e-4); the float export run elsewhere sees float32.",
        f"# Fields and ranges: {TEMPLATE_PAGE}",
        "# Convert: bash cpp_infer/convert_om.sh MODEL.air (or .onnx), which passes this file as --insert_op_conf.",
        "aipp_op {",
        "    aipp_mode: static",
        "    related_input_rank: 0",
        "    input_format: RGB888_U8",
        f"    src_image_size_w: {width}",
        f"    src_image_size_h: {height}",
        "    csc_switch: false",
        "    rbuv_swap_switch: false",
    ]
    for key, value in params.items():
        lines.append(f"    {key}: {value}" if isinstance(value, int) else f"    {key}: {value:.9g}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_aipp_config(sidecar_path: Path, output: Path | None = None) -> Path:
    """`<stem>.aipp.cfg` beside the model the sidecar describes (or `output`), from the sidecar alone."""
    from wrn.fileio import atomic_write_text

    sidecar = Sidecar.read(Path(sidecar_path), error=AippError)
    config = aipp_config(sidecar)
    if output is None:
        model = Path(sidecar_path).with_name(sidecar.file)
        output = model.with_name(model.stem + ".aipp.cfg")
    atomic_write_text(Path(output), config)
    return Path(output)
