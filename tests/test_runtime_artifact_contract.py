"""The artifact contract: exported manifests match the JSON Schema, the Python reader and the schema require
the same keys, older formats still load with their method facts derived, unknown versions and damaged files
end in one sentence, and the default method comes from the artifact."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from onnxplain.export.registry import METHODS
from onnxplain.runtime import Explainer
from onnxplain.runtime.artifact import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    ArtifactError,
    Manifest,
    files,
    manifest_schema,
    methods,
    read_manifest,
    verify_files,
)
from onnxplain.runtime.artifact.manifest import REQUIRED, REQUIRED_SINCE_3
from tests.artifact_versions import copy_as_format, manifest_as_format
from tests.contract import assert_matches_contract, schema_errors


def manifest_json(artifact: Path) -> dict[str, Any]:
    return json.loads((artifact / MANIFEST_FILE).read_text(encoding="utf-8"))


def one_sentence(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def test_exported_classifier_and_question_answering_artifacts_match_the_schema(
    tiny_artifact: Path, tiny_qa_artifact: Path
) -> None:
    classifier = assert_matches_contract(tiny_artifact)
    answers = assert_matches_contract(tiny_qa_artifact)
    assert classifier["format_version"] == answers["format_version"] == FORMAT_VERSION == 3
    assert (answers["task"], answers["explained_position"]) == ("question-answering", "answer-start-and-end")
    for name, record in classifier["methods"].items():  # the records are the registry's
        assert record == METHODS[name].record().to_json()


def test_the_reader_and_the_schema_require_the_same_keys(tiny_artifact: Path) -> None:
    assert set(manifest_schema()["required"]) == set(REQUIRED + REQUIRED_SINCE_3)
    written = manifest_json(tiny_artifact)
    for key in manifest_schema()["required"]:
        broken = {k: v for k, v in written.items() if k != key}
        assert schema_errors(broken), key
        with pytest.raises(ArtifactError, match=f"lacks the required key '{key}'"):
            Manifest.from_json(broken)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m["methods"]["mask-lrp"].pop("reads_head_mask"),
        lambda m: m["methods"]["attnlrp"].update(rule_set=7),
        lambda m: m.update(explained_position="middle-token"),
        lambda m: m["files"].pop(TOKENIZER_FILE),
        lambda m: m["files"][MODEL_FILE].update(sha256="not a digest"),
    ],
    ids=["record-without-head-mask-flag", "rule-set-not-a-string", "unknown-position", "no-tokenizer-hash", "bad-hash"],
)
def test_a_malformed_manifest_fails_the_schema_and_the_reader(tiny_artifact: Path, change) -> None:
    broken = manifest_json(tiny_artifact)
    change(broken)
    assert schema_errors(broken)
    with pytest.raises(ArtifactError) as error:
        Manifest.from_json(broken)
    one_sentence(error)


def test_a_default_method_the_artifact_lacks_is_refused(tiny_artifact: Path) -> None:
    broken = manifest_json(tiny_artifact)
    broken["default_method"] = "shap"
    with pytest.raises(ArtifactError, match="default method 'shap' is not one of its methods"):
        Manifest.from_json(broken)


@pytest.mark.parametrize(
    ("version", "words"), [(4, "newer than this onnxplain reads"), (0, "not one"), ("3", "not one")]
)
def test_an_unknown_format_version_is_refused_in_one_sentence(tiny_artifact: Path, version, words: str) -> None:
    written = manifest_json(tiny_artifact)
    with pytest.raises(ArtifactError) as error:
        Manifest.from_json(dict(written, format_version=version))
    message = one_sentence(error)
    assert words in message and "(versions 1, 2, 3)" in message


@pytest.mark.parametrize("version", [1, 2])
def test_format_1_and_2_manifests_load_with_their_method_facts_derived(tiny_artifact: Path, version: int) -> None:
    current = Manifest.from_json(manifest_json(tiny_artifact))
    old = Manifest.from_json(manifest_as_format(manifest_json(tiny_artifact), version))
    assert old.format_version == version and old.files == {}
    assert old.default_method == current.default_method == "mask-lrp"
    assert old.explained_position == current.explained_position == "first-token"
    for name, record in old.methods.items():
        assert (record.output, record.rule_set, record.reads_head_mask) == (
            current.methods[name].output,
            current.methods[name].rule_set,
            current.methods[name].reads_head_mask,
        )
    without_mask_lrp = manifest_as_format(manifest_json(tiny_artifact), version)
    without_mask_lrp["methods"].pop("mask-lrp")
    assert Manifest.from_json(without_mask_lrp).default_method == "transatt"  # its first
    positionless = manifest_as_format(manifest_json(tiny_artifact), version)
    positionless.pop("explained_position")  # as the first artifacts were written
    assert Manifest.from_json(positionless).explained_position == "first-token"


def test_the_frozen_format_2_facts_agree_with_the_registry() -> None:
    for name, (rule_set, reads_head_mask) in methods.FORMAT_2_METHODS.items():
        assert (METHODS[name].rule_set, METHODS[name].reads_head_mask) == (rule_set, reads_head_mask), name


def test_a_format_2_manifest_naming_a_later_method_is_refused(tiny_artifact: Path) -> None:
    old = manifest_as_format(manifest_json(tiny_artifact), 2)
    old["methods"]["shap"] = "relevance_shap"
    with pytest.raises(ArtifactError, match="which no format-2 artifact had"):
        Manifest.from_json(old)


def test_the_default_method_comes_from_the_manifest(tiny_artifact: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny_artifact, tmp_path / "copy"))
    written = manifest_json(copy)
    written["default_method"] = "attnlrp"
    (copy / MANIFEST_FILE).write_text(json.dumps(written), encoding="utf-8")
    explainer = Explainer.load(copy)
    assert explainer.default_method == "attnlrp"
    [result] = explainer.explain("A gripping film.")
    assert result.method == "attnlrp"


def damaged_copy(artifact: Path, out: Path, name: str, how: str) -> Path:
    copy = Path(shutil.copytree(artifact, out))
    data = bytearray((copy / name).read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    else:  # one byte in the middle altered, the size unchanged
        data[len(data) // 2] ^= 0xFF
    (copy / name).write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize("name", [MODEL_FILE, TOKENIZER_FILE])
@pytest.mark.parametrize(
    ("how", "words"), [("truncated", "truncated or was replaced"), ("altered", "altered or damaged")]
)
def test_a_damaged_file_is_one_artifact_error(
    tiny_artifact: Path, tmp_path: Path, name: str, how: str, words: str
) -> None:
    copy = damaged_copy(tiny_artifact, tmp_path / "copy", name, how)
    with pytest.raises(ArtifactError) as error:
        Explainer.load(copy)
    message = one_sentence(error)
    assert name in message and words in message and "re-export" in message


@pytest.mark.parametrize(
    ("name", "words"), [(MODEL_FILE, "as an ONNX model"), (TOKENIZER_FILE, "as a tokenizers file")]
)
def test_a_truncated_file_of_a_format_2_artifact_is_one_artifact_error(
    tiny_artifact: Path, tmp_path: Path, name: str, words: str
) -> None:
    """Format 2 recorded no hashes; the file then fails to parse, and that too ends in one sentence."""
    old = copy_as_format(tiny_artifact, tmp_path / "v2", 2)
    data = (old / name).read_bytes()
    (old / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError) as error:
        Explainer.load(old)
    assert words in one_sentence(error)


def test_a_verified_file_is_hashed_again_only_once_it_changes(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = Path(shutil.copytree(tiny_artifact, tmp_path / "copy"))
    recorded = read_manifest(copy).files
    hashed: list[str] = []
    real = files.sha256_of
    monkeypatch.setattr(files, "sha256_of", lambda path: hashed.append(path.name) or real(path))
    verify_files(copy, recorded)
    verify_files(copy, recorded)
    assert sorted(hashed) == sorted(recorded)  # each file once
    stat = (copy / MODEL_FILE).stat()
    os.utime(copy / MODEL_FILE, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    verify_files(copy, recorded)
    assert hashed.count(MODEL_FILE) == 2
