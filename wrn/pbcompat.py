"""One protobuf implementation for the whole process, the one MindSpore needs.

MindSpore's generated modules (`checkpoint_pb2`, `mind_ir_pb2`) load only with protobuf's pure-Python
implementation, which MindSpore selects when it is imported first (`mindspore/run_check/_check_version.py`,
`_set_pb_env`). onnx and tensorboard import protobuf too, and the first import fixes the implementation for the
process: importing either before MindSpore made MindSpore's import fail ("Descriptors cannot be created directly",
then an abort) with protobuf 7. So the package selects MindSpore's choice before it imports them.
"""

from __future__ import annotations

import os


def prefer_mindspore_protobuf() -> None:
    """Before importing onnx or tensorboard: keep protobuf's implementation the one MindSpore can load (a value the
    user set stays)."""
    os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
