"""The WRN depth rule, depth = 6n + 4 (Zagoruyko & Komodakis, 2016): the config checks it, the model is built by it."""

from __future__ import annotations

from wrn.errors import ConfigError

DEPTH_RULE = "6n+4 with n >= 1"
VALID_DEPTHS = "10, 16, 22, 28, 34, 40, ..."  # what the error messages offer


def is_wrn_depth(depth: int) -> bool:
    return depth >= 10 and (depth - 4) % 6 == 0


def blocks_per_group(depth: int) -> int:
    """n in depth = 6n + 4: three groups of n blocks, two convs each, plus stem conv, final dense and 2 shortcuts."""
    if not is_wrn_depth(depth):
        raise ConfigError(f"WideResNet depth {depth} is not {DEPTH_RULE} (valid: {VALID_DEPTHS})")
    return (depth - 4) // 6
