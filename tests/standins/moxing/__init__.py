"""Stand-in for Huawei's MoXing (`moxing-framework`), which exists only inside ModelArts images.

Put this folder's parent on PYTHONPATH and set MOXING_STANDIN_ROOT: `obs://bucket/key` then means
`$MOXING_STANDIN_ROOT/bucket/key`. Only `mox.file` is provided, with the documented semantics listed in `file.py`.
It never ships with the package: `wrn.storage.find_moxing` chooses it because it has `file.copy_parallel`, exactly
as it would choose the real one.
"""

from . import file  # noqa: F401
