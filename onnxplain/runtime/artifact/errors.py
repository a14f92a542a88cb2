"""``ArtifactError``: what every problem with an artifact ends in."""

from __future__ import annotations

from onnxplain.errors import UserError


class ArtifactError(UserError):
    """An artifact directory is missing, incomplete, damaged, or of a format this version cannot read."""
