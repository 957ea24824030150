"""Reading files for the API: declared content type, local failures, downscaling."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

import lesion_contract as contract
from skinlesion import images


def _image_bytes(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (180, 120, 90)).save(out, format=fmt)
    return out.getvalue()


def _noise_png(path: Path, size: tuple[int, int]) -> int:
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(path, format="PNG")  # incompressible
    return path.stat().st_size


def test_the_client_shrinks_exactly_what_the_api_would_refuse_for_size(tmp_path: Path) -> None:
    # GIVEN one photo just under the API's byte limit and one just over it
    under, over = tmp_path / "under.png", tmp_path / "over.png"
    assert _noise_png(under, (1150, 1150)) < contract.MAX_IMAGE_BYTES < _noise_png(over, (1300, 1200))

    # THEN the first is sent as it is, the second shrunk to what the endpoint gets anyway
    assert not images.read_image(under).downscaled
    shrunk = images.read_image(over)
    assert shrunk.downscaled and len(shrunk.data) <= contract.MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(shrunk.data)) as image:
        assert max(image.size) == contract.ENDPOINT_MAX_SIDE_PX


@pytest.mark.parametrize(
    ("fmt", "name", "expected"),
    [
        ("JPEG", "a.jpg", "image/jpeg"),
        ("PNG", "b.png", "image/png"),
        ("WEBP", "c.webp", "image/webp"),
        ("PNG", "mislabelled.jpg", "image/png"),  # the bytes win over the name
    ],
)
def test_content_type_comes_from_the_bytes(tmp_path: Path, fmt, name, expected) -> None:
    path = tmp_path / name
    path.write_bytes(_image_bytes(fmt))
    prepared = images.read_image(path)
    assert prepared.content_type == expected
    assert prepared.data == path.read_bytes() and not prepared.downscaled


def test_unknown_bytes_fall_back_to_the_extension_then_the_generic_type(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not an image")
    (tmp_path / "notes.txt").write_text("not an image")
    assert images.read_image(tmp_path / "notes.jpg").content_type == "image/jpeg"
    assert images.read_image(tmp_path / "notes.txt").content_type == "application/x-image"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
)
def test_unreadable_files_fail_locally_with_a_reason(tmp_path: Path, setup, reason) -> None:
    path = tmp_path / "x.jpg"
    setup(path)
    with pytest.raises(images.ImageFileError, match=reason):
        images.read_image(path)


def test_image_over_the_byte_limit_is_downscaled_to_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    noise = Image.frombytes("RGB", (1200, 800), os.urandom(1200 * 800 * 3))  # noise does not compress
    noise.save(path, format="PNG")
    assert path.stat().st_size > 2_000_000
    prepared = images.read_image(path, max_bytes=2_000_000)  # a lower limit keeps the test fast
    assert prepared.downscaled and prepared.content_type == "image/jpeg"
    with Image.open(io.BytesIO(prepared.data)) as shrunk:
        assert shrunk.format == "JPEG"
        assert shrunk.size == (1024, 683)
    assert len(prepared.data) <= 2_000_000


def test_image_over_the_pixel_limit_is_downscaled(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1200 * 1000)
    path = tmp_path / "wide.jpg"
    path.write_bytes(_image_bytes("JPEG", (1500, 1000)))
    prepared = images.read_image(path)
    assert prepared.downscaled
    with Image.open(io.BytesIO(prepared.data)) as shrunk:
        assert max(shrunk.size) == 1024


def test_oversized_non_image_is_reported_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    path.write_bytes(b"x" * 2000)
    with pytest.raises(images.ImageFileError, match="not an image that can be shrunk"):
        images.read_image(path, max_bytes=1000)
