"""The PyTorch side: canonical models, LRP rule sets, explanation methods, and ONNX export."""

from onnxplain.export.exporter import export_model

__all__ = ["export_model"]
