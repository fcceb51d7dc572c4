"""The explorers' PNG writers, decoded by an independent reader (Pillow)."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from course_utils.explorers import png as png_module
from course_utils.explorers.png import IndexedEncoder, colour_bins, rgba_png
from course_utils.plotting import new_figure

isal_zlib = pytest.importorskip("isal.isal_zlib")  # pinned in requirements.txt
INSTALLED_DEFLATE = png_module.deflate  # (before the fixture below swaps it)


@pytest.fixture(autouse=True, params=["isal", "zlib"])
def deflate(request, monkeypatch):
    """Every test here runs with ISA-L's deflate (installed) and with the standard library's (fallback)."""
    compress = {"isal": isal_zlib.compress, "zlib": zlib.compress}[request.param]
    monkeypatch.setattr(png_module, "deflate", compress)
    return request.param


def test_the_installed_deflate_is_isal():
    assert INSTALLED_DEFLATE is isal_zlib.compress


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (340, 850)])
def test_rgba_png_decodes_to_the_same_pixels_with_pil(shape):
    rng = np.random.default_rng(sum(shape))
    rgba = rng.integers(0, 256, size=(*shape, 4), dtype=np.uint8)
    decoded = Image.open(io.BytesIO(rgba_png(rgba)))
    assert decoded.mode == "RGB" and decoded.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(decoded), rgba[..., :3])


def test_rgba_png_rejects_other_buffers():
    with pytest.raises(ValueError, match=r"buffer has shape \(4, 4, 3\).*allowed: \(H, W, 4\) uint8"):
        rgba_png(np.zeros((4, 4, 3), dtype=np.uint8))




def test_colour_bins_are_the_top_five_bits_of_each_channel():
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(7, 9, 4), dtype=np.uint8)
    r, g, b = (rgba[..., i].astype(int) // 8 for i in range(3))
    np.testing.assert_array_equal(colour_bins(rgba), r + 32 * g + 1024 * b)


def test_a_frame_of_few_colours_is_indexed_without_loss():
    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, size=(40, 3), dtype=np.uint8)
    colours = colours // 8 * 8 + 4  # one colour per bin: each bin's mean is the colour itself
    rgba = np.empty((30, 50, 4), dtype=np.uint8)
    rgba[..., :3] = colours[rng.integers(0, 40, size=(30, 50))]
    rgba[..., 3] = 255
    encoder = IndexedEncoder(rgba)
    png = encoder.encode(rgba)
    assert encoder.usable and encoder.coverage == 1.0
    assert Image.open(io.BytesIO(png)).mode == "P"
    np.testing.assert_array_equal(decode(png), rgba[..., :3])


def test_a_plot_is_indexed_within_a_few_levels_and_smaller_than_rgb():
    fig, ax = new_figure((6, 3))
    for k in range(6):
        ax.plot(np.linspace(0, 1, 50) ** (k + 1), lw=2, label=f"k={k}")
    ax.legend()
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    encoder = IndexedEncoder(rgba)
    png = encoder.encode(rgba)
    error = np.abs(decode(png).astype(int) - rgba[..., :3])
    assert encoder.usable
    assert np.median(error) == 0 and (error.max(-1) > 48).mean() < 0.002
    assert len(png) < 0.7 * len(rgba_png(rgba))


def test_colours_that_appear_later_map_to_their_nearest_palette_colour():
    rgba = np.full((10, 10, 4), 255, dtype=np.uint8)
    rgba[:5, :, :3] = (20, 60, 200)
    encoder = IndexedEncoder(rgba)
    later = rgba.copy()
    later[8:, :, :3] = (30, 70, 190)  # close to the blue, never seen while fitting
    decoded = decode(encoder.encode(later))
    assert np.abs(decoded[9, 0].astype(int) - (20, 60, 200)).max() <= 8


def test_noise_is_not_indexed():
    rng = np.random.default_rng(2)
    noise = rng.integers(0, 256, size=(64, 64, 4), dtype=np.uint8)
    assert not IndexedEncoder(noise).usable


def test_encoder_rejects_other_buffers():
    with pytest.raises(ValueError, match=r"buffer has shape \(4, 4\)"):
        IndexedEncoder(np.zeros((4, 4), dtype=np.uint8))


def test_frames_after_the_first_are_encoded_from_their_changed_pixels_alone():
    rng = np.random.default_rng(3)
    colours = rng.integers(0, 32, size=(40, 3), dtype=np.uint8) * 8 + 4
    frames = []
    for k in range(4):
        rgba = np.full((30, 50, 4), 255, dtype=np.uint8)
        rgba[..., :3] = colours[rng.integers(0, 40, size=(30, 50))] if k == 0 else frames[0][..., :3]
        if k:
            rgba[5 * k:5 * k + 7, 3 * k:20, :3] = colours[k]  # a moved artist
            rgba[0, 0, :3] = (250, 10, 10)  # a colour the palette has not seen
        frames.append(rgba)
    encoder = IndexedEncoder(frames[0])
    fresh = [IndexedEncoder(frames[0]) for _ in frames]
    for k, rgba in enumerate(frames + frames[:2]):
        again = fresh[k % len(frames)]
        np.testing.assert_array_equal(decode(encoder.encode(rgba)), decode(again.encode(rgba)))
