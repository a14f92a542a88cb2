"""The tasks an artifact can be exported for, one definition each, keyed by ``manifest["task"]``.

Adding a task: write a ``Task`` subclass in a module of its own here (see ``task.py`` for what it must say) and
list it in ``TASKS``; the explainer, the server, the command line and the views find it through ``task_for``.
"""

from __future__ import annotations

from onnxplain.errors import UserError
from onnxplain.runtime.tasks.causal_lm import CausalLM
from onnxplain.runtime.tasks.classification import SequenceClassification
from onnxplain.runtime.tasks.question_answering import QuestionAnswering
from onnxplain.runtime.tasks.task import Task

TASKS: dict[str, type[Task]] = {task.name: task for task in (SequenceClassification, CausalLM, QuestionAnswering)}

SEQUENCE_CLASSIFICATION = SequenceClassification.name
CAUSAL_LM = CausalLM.name
QUESTION_ANSWERING = QuestionAnswering.name


def task_for(name: str) -> type[Task]:
    """The task named in a manifest; one sentence when this onnxplain does not know it."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(
            f"the artifact's task {name!r} is not one this onnxplain explains ({', '.join(TASKS)}); "
            "upgrade onnxplain or re-export the model for one of them"
        ) from None


__all__ = ["CAUSAL_LM", "QUESTION_ANSWERING", "SEQUENCE_CLASSIFICATION", "TASKS", "Task", "task_for"]
