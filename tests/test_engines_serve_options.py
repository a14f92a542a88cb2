"""``onnxplain serve --engine ray``: option mistakes end in one sentence before Ray starts; the Serve app
builder refuses a wrong artifact path and wrong arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from onnxplain.cli import main
from onnxplain.engines.serve_command import autoscaling_config
from onnxplain.errors import UserError


def test_autoscaling_config_is_a_json_object_with_max_replicas() -> None:
    assert autoscaling_config('{"min_replicas": 1, "max_replicas": 3}') == {"min_replicas": 1, "max_replicas": 3}
    assert autoscaling_config(None) is None
    with pytest.raises(UserError, match="not valid JSON"):
        autoscaling_config("{min: 1")
    with pytest.raises(UserError, match="max_replicas"):
        autoscaling_config('{"min_replicas": 1}')


@pytest.mark.parametrize(
    "options, message",
    [(["--replicas", "0"], "--replicas 0 is not positive"), (["--autoscaling", "[1]"], "max_replicas")],
)
def test_bad_engine_options_are_one_sentence(tmp_path: Path, capsys, options: list[str], message: str) -> None:
    assert main(["serve", str(tmp_path), "--engine", "ray", *options]) == 2
    assert message in capsys.readouterr().err


def test_the_app_builder_checks_its_arguments(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="needs the ray extra")
    from onnxplain.engines.ray_serve import app_builder, build_app

    with pytest.raises(ValueError, match="give artifact=DIR"):
        app_builder({"replicas": "2"})
    with pytest.raises(UserError):
        build_app(tmp_path / "missing", replicas=2)
