"""Question answering artifacts from the command line and the server: the same answers as the Python API
(``Explainer.explain`` on (question, context) pairs), every view, question files, and clear errors for the
wrong kind of input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from onnxplain.cli import main
from onnxplain.errors import UserError
from onnxplain.runtime import Explainer
from onnxplain.runtime.server import create_app
from onnxplain.runtime.server_limits import ServerLimits
from onnxplain.runtime.tasks.question_pairs import read_question_pairs

QUESTIONS = ["who directed the film?", "when?"]
CONTEXTS = ["the film was directed by agnès varda in paris", "in the summer of 1962, on a long afternoon"]
PAIRS = list(zip(QUESTIONS, CONTEXTS, strict=True))
LIMITS = ServerLimits(max_text_chars=200, max_texts=3, max_queued_texts=6, max_batch=8)


@pytest.fixture(scope="module")
def explainer(tiny_qa_artifact: Path) -> Explainer:
    return Explainer.load(tiny_qa_artifact)


@pytest.fixture(scope="module")
def client(tiny_qa_artifact: Path) -> Iterator[TestClient]:
    server_explainer = Explainer.load(tiny_qa_artifact, batch_size=LIMITS.max_batch, max_length=40)
    with TestClient(create_app(server_explainer, LIMITS)) as client:
        yield client


def expected(explainer: Explainer, method: str | None = None) -> list:
    answers = explainer.explain(PAIRS, method=method)
    return json.loads(json.dumps([a.to_json() for a in answers]))


def pair_arguments() -> list[str]:
    return [arg for q, c in zip(QUESTIONS, CONTEXTS, strict=True) for arg in ("--question", q, "--context", c)]


def test_words_of_question_and_context_sum_their_tokens(explainer: Explainer) -> None:
    [answer] = explainer.explain(PAIRS[0], method="attnlrp")
    assert [w.text for w in answer.question_words] == ["who", "directed", "the", "film", "?"]
    assert [w.text for w in answer.context_words] == CONTEXTS[0].split()
    for words, segment in ((answer.question_words, 0), (answer.context_words, 1)):
        assert all(answer.token_segments[i] == segment for w in words for i in w.token_indices)
        for word in words:
            total = sum(answer.tokens[i].relevance for i in word.token_indices)
            assert word.relevance == pytest.approx(total)


def test_cli_json_equals_the_python_api(
    tiny_qa_artifact: Path, explainer: Explainer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(tiny_qa_artifact), *pair_arguments(), "--format", "json", "--method", "attnlrp"]) == 0
    assert json.loads(capsys.readouterr().out) == {"results": expected(explainer, "attnlrp")}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv"])
def test_cli_reads_question_files_and_writes_every_view(
    tiny_qa_artifact: Path, explainer: Explainer, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"pairs{suffix}"
    if suffix == ".jsonl":
        rows = [
            json.dumps({"id": i, "question": q, "context": c})
            for i, (q, c) in enumerate(zip(QUESTIONS, CONTEXTS, strict=True))
        ]
        path.write_text("\n".join(rows) + "\n\n", encoding="utf-8")
    else:
        delimiter = "," if suffix == ".csv" else "\t"
        lines = [f"context{delimiter}question"] + [
            f'"{c}"{delimiter}"{q}"' for q, c in zip(QUESTIONS, CONTEXTS, strict=True)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_question_pairs(path) == PAIRS
    for fmt in ("json", "html", "term"):
        out = tmp_path / f"out.{fmt}"
        assert main(["explain", str(tiny_qa_artifact), "--file", str(path), "--format", fmt, "--out", str(out)]) == 0
        assert "wrote 2 explanation(s)" in capsys.readouterr().err
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["results"] == expected(explainer)
    page = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert page.count("<article>") == 2 and "agnès" in page and "<script" not in page
    terminal = (tmp_path / "out.term").read_text(encoding="utf-8")
    assert "\x1b[" not in terminal and terminal.count("question: ") == 2 and "afternoon" in terminal


@pytest.mark.parametrize(
    "extra, message",
    [
        (["a text"], "answers questions"),
        (["--question", "who?"], "1 --question and 0 --context"),
        (["--question", "who?", "--context", " "], "context 0 is empty"),
        (["--question", "who?", "--context", "varda", "--target", "start"], "drop --target"),
        (["--question", "who?", "--context", "varda", "--method", "rollout"], "unknown method 'rollout'"),
        ([], "no question to explain"),
    ],
)
def test_cli_errors_are_one_line(
    tiny_qa_artifact: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(tiny_qa_artifact), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_question_files_without_both_fields_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"question": "who?", "context": "varda"}\n{"question": "when?"}\n', encoding="utf-8")
    with pytest.raises(UserError, match="line 2 of question file .* no context field 'context'"):
        read_question_pairs(path)
    path = tmp_path / "pairs.csv"
    path.write_text("question,text\nwho?,varda\n", encoding="utf-8")
    with pytest.raises(UserError, match="no column named 'context'"):
        read_question_pairs(path)


def test_a_classifier_refuses_questions(tiny_artifact: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(tiny_artifact), "--question", "who?", "--context", "varda"]) == 2
    assert "explains texts, not questions" in capsys.readouterr().err
    with TestClient(create_app(Explainer.load(tiny_artifact), LIMITS)) as classifier:
        response = classifier.post("/explain", json={"question": "who?", "context": "varda"})
    assert response.status_code == 422 and "this model explains texts" in response.json()["error"]
    with pytest.raises(UserError, match="text 0 is a tuple"):
        Explainer.load(tiny_artifact).explain([("who?", "varda")])


def test_server_answers_equal_the_python_api(client: TestClient, explainer: Explainer) -> None:
    one = client.post("/explain", json={"question": QUESTIONS[0], "context": CONTEXTS[0]})
    assert one.status_code == 200
    assert one.json()["results"] == expected(explainer)[:1]
    pairs = [{"question": q, "context": c} for q, c in zip(QUESTIONS, CONTEXTS, strict=True)]
    many = client.post("/explain", json={"pairs": pairs, "method": "grad-input"})
    assert many.status_code == 200
    assert many.json()["results"] == expected(explainer, "grad-input")


BAD = [
    ({"text": "a text"}, 422, "this model explains pairs"),
    ({"question": "who?", "context": "varda", "target": 3}, 422, "unknown field(s) target"),
    ({"question": "who?"}, 422, 'the body lacks "context"'),
    ({"question": "who?", "context": "varda", "pairs": []}, 422, "mixes two forms"),
    ({"pairs": []}, 422, "pairs is an empty list"),
    ({"pairs": [{"question": "who?"}]}, 422, 'pairs[0] lacks "context"'),
    ({"pairs": [{"question": "who?", "context": 7}]}, 422, "pairs[0].context is a number"),
    ({"question": "  ", "context": "varda"}, 422, "question is empty"),
    ({"question": "who?", "context": "varda", "method": "rollout"}, 422, "unknown method 'rollout'"),
    ({"question": "who?", "context": "varda", "colour": "red"}, 422, "unknown field(s) colour"),
    ({"question": "who?", "context": "x" * 201}, 413, "context has 201 characters, more than the 200 allowed"),
    ({"pairs": [{"question": "who?", "context": "varda"}] * 4}, 413, "pairs holds 4 items"),
]


@pytest.mark.parametrize("body, status, message", BAD, ids=[f"{s}-{m}" for _, s, m in BAD])
def test_server_refuses_bad_question_requests_clearly(
    client: TestClient, body: dict, status: int, message: str
) -> None:
    response = client.post("/explain", json=body)
    assert response.status_code == status
    assert response.json()["status"] == status and message in response.json()["error"]
    assert client.post("/explain", json={"question": "who?", "context": "varda"}).status_code == 200


def test_openapi_and_metadata_describe_question_requests(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    request = document["components"]["schemas"]["ExplainRequest"]
    single, several = request["oneOf"]
    assert set(single["properties"]) == {"question", "context", "method"} and set(several["properties"]) == {
        "pairs",
        "method",
    }
    assert several["properties"]["pairs"]["maxItems"] == LIMITS.max_texts
    assert "answer" in document["components"]["schemas"]["Explanation"]["properties"]
    assert client.get("/metadata").json()["task"] == "question-answering"


def test_a_question_too_long_for_the_model_is_cut_with_its_context(explainer: Explainer, client: TestClient) -> None:
    """A question that leaves no room for its context within the token limit is cut too (longest first), not
    refused: every request the schema admits is explained."""
    long_question = "who " * 600
    [answer] = explainer.explain((long_question, CONTEXTS[0]))
    assert answer.truncated and len(answer.tokens) == explainer.max_length
    assert {s for s in answer.token_segments} == {None, 0, 1}
    assert "the question is too long" in explainer.task.render([answer], "term", color=False)
    response = client.post("/explain", json={"question": "who " * 45, "context": "varda"})
    assert response.status_code == 200 and response.json()["results"][0]["truncated"]


def test_answer_spans_are_chosen_per_pair_and_checked(explainer: Explainer) -> None:
    predicted = explainer.explain(PAIRS, method="attnlrp")
    chosen = explainer.explain(PAIRS, method="attnlrp", target=[None, (9, 10)])
    assert chosen[0].to_json() == predicted[0].to_json()
    assert (chosen[1].start_token, chosen[1].end_token) == (9, 10)
    assert not np.allclose(chosen[1].relevance, predicted[1].relevance)
    with pytest.raises(UserError, match="not \\(start token, end token\\) within its"):
        explainer.explain(PAIRS[0], target=(3, 999))
    with pytest.raises(UserError, match="1 answer spans were given for 2 pairs"):
        explainer.explain(PAIRS, target=[(1, 2)])
