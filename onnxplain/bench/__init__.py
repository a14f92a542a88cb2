"""``onnxplain bench``: what an explanation costs, measured against the forward graph, eager PyTorch and
Captum's Integrated Gradients in one process (needs the export side: torch, transformers, captum)."""
