"""onnxplain: LRP explanations of Transformer classifiers as one ONNX graph.

``onnxplain.runtime`` (numpy, onnxruntime, tokenizers) loads and runs an artifact;
``onnxplain.export`` (PyTorch) writes one.
"""

__version__ = "0.1.0"
