"""The onnxplain runtime: explain text with an exported artifact using only numpy, onnxruntime and tokenizers.

    from onnxplain.runtime import Explainer
    explainer = Explainer.load("artifact/", device="cpu")      # cpu | cuda | auto
    [result] = explainer.explain("A gripping, beautifully shot film.", method="mask-lrp")
    result.label, result.probabilities, result.words, result.to_json()

Nothing under ``onnxplain.runtime`` imports torch, transformers or ``onnxplain.export``.
"""

from onnxplain.runtime.explainer import Explainer
from onnxplain.runtime.results import Explanation, Token, Word

__all__ = ["Explainer", "Explanation", "Token", "Word"]
