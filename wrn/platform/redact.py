"""Credential values out of any text that may reach a log, an error or a dry run."""

from __future__ import annotations

from typing import Iterable


class Redactor:
    """Replaces credential values in any text that may reach a log or an exception."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        text = str(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"
