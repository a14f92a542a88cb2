"""The onnxplain runtime: explain inputs with an exported artifact using only numpy, onnxruntime and tokenizers.

    from onnxplain.runtime import Explainer
    explainer = Explainer.load("artifact/", device="cpu")      # cpu | cuda | auto
    [result] = explainer.explain("A gripping, beautifully shot film.", method="mask-lrp", target=None)
    result.label, result.probabilities, result.words, result.to_json()

    qa = Explainer.load("qa-artifact/")                        # question answering: (question, context) pairs
    [answer] = qa.explain([("Who directed it?", "It was directed by Agnes Varda.")])
    answer.answer, answer.context_words, answer.to_json()

One call shape for every task, ``explain(inputs, method=None, target=None, head_mask=None)``; what the inputs,
targets and results of a task are is defined once, in ``onnxplain.runtime.tasks``.

Nothing under ``onnxplain.runtime`` imports torch, transformers or ``onnxplain.export``.
"""

from onnxplain.runtime.explainer import Explainer, FidelityWarning
from onnxplain.runtime.results import Explanation, Token, Word
from onnxplain.runtime.tasks import TASKS, Task
from onnxplain.runtime.tasks.answers import AnswerExplanation

__all__ = ["TASKS", "AnswerExplanation", "Explainer", "Explanation", "FidelityWarning", "Task", "Token", "Word"]
