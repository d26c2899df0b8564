"""The image-classification answer ModelArts documents ("Specifications for Editing a Model Configuration File",
Example of an Image Classification Model Configuration File: `{"predicted_label": "flower", "scores": [["rose",
0.99], ["begonia", 0.01]]}`), and its JSON schema for config.json."""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

TOP = 5

# The response schema of the documented image-classification example, with the keys required.
RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["predicted_label", "scores"],
    "properties": {
        "predicted_label": {"type": "string"},
        "scores": {
            "type": "array",
            "items": [{"type": "array", "minItems": 2, "maxItems": 2,
                       "items": [{"type": "string"}, {"type": "number"}]}],
        },
    },
}


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax of one row of logits, in float64 so the top scores do not round to the same value."""
    row = np.asarray(logits, dtype=np.float64).reshape(-1)
    shifted = np.exp(row - row.max())
    return shifted / shifted.sum()


def classification(logits: np.ndarray, names: Sequence[str], top: int = TOP) -> Dict[str, object]:
    """`predicted_label` (the arg-max class) and the `top` most likely classes as [name, probability] pairs, most
    likely first (ties keep the lower class index first, as arg-max does)."""
    scores = probabilities(logits)
    if len(scores) != len(names):
        raise ValueError("the model gives %d scores but %d class names are known" % (len(scores), len(names)))
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:top]
    ranked: List[List[object]] = [[names[i], float(scores[i])] for i in order]
    return {"predicted_label": names[int(np.argmax(scores))], "scores": ranked}
