"""The awkward-input suite, 2-D images and class folders: every case is a crafted (or pip-shipped) file or folder and the one
outcome a careful user expects from `read_image` / `MRIFolder` (see tests/awkward_cases.py and CONTRIBUTING.md).

File cases (kind jpeg/png/tiff/bmp/gif/webp/shipped): `write(folder)` writes one file into `folder` and returns it.
- "ok": `read_image(path, None)` (the file's own size) under recorded warnings; `check(x, caught)` asserts the values.
- "refused": `read_image` raises `ImageReadError` naming the file (and matching `match`).
- "skipped": inside a class folder, `MRIFolder(skip_bad=True)` leaves it out and lists it; without `skip_bad` it raises naming it.
Folder cases (kind "folder"): `write(tmp)` builds `tmp/tree/Training/<class>/...` and returns the path at fault (or the tree
for "ok"); "ok" cases `check(ds, caught)` the `MRIFolder` read without `skip_bad`.
"""
from __future__ import annotations
import importlib.util
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from awkward_cases import Case, outcome_counts
from brainssl.data.folder import ImageReadError, ImageScaleWarning, MRIFolder, read_image

# ---------------------------------------------------------------- test pictures
G = (np.arange(120).reshape(10, 12) * 2).astype(np.uint8)      # a 10 x 12 ramp, every value distinct: exact checks
UP = np.zeros((16, 24), np.uint8); UP[:8, :8] = 255; UP[:8, -8:] = 128  # upright: white block top-left, grey top-right


def save(img: Image.Image, name: str, **kw):
    "A `write` function that saves `img` as `name` in the folder it is given."
    def write(d: Path) -> Path:
        d.mkdir(parents=True, exist_ok=True); img.save(d / name, **kw); return d / name
    return write


def raw(data: bytes, name: str):
    "A `write` function that writes `data` as `name`."
    def write(d: Path) -> Path:
        d.mkdir(parents=True, exist_ok=True); (d / name).write_bytes(data); return d / name
    return write


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    b = io.BytesIO(); img.save(b, fmt, **kw); return b.getvalue()


def truncated(img: Image.Image, fmt: str, name: str, keep: float = 0.5):
    d = encoded(img, fmt); return raw(d[: int(len(d) * keep)], name)


def scale_warnings(caught): return [w for w in caught if issubclass(w.category, ImageScaleWarning)]


def exact(expected):
    "check: the tensor equals `expected` (H, W) exactly, and no scaling warning."
    def check(x, caught):
        assert x.shape == (1, *expected.shape), x.shape
        assert (x[0].numpy() == expected).all(), np.abs(x[0].numpy().astype(int) - expected).max()
        assert not scale_warnings(caught)
    return check


def close(expected, tol):
    "check: within `tol` grey levels of `expected` (lossy formats), no scaling warning."
    def check(x, caught):
        assert x.shape == (1, *expected.shape), x.shape
        assert np.abs(x[0].numpy().astype(int) - expected.astype(int)).max() <= tol
        assert not scale_warnings(caught)
    return check


def upright(x, caught):
    "check: the EXIF marker picture came out upright (white block top-left, grey top-right, black bottom)."
    a = x[0].numpy().astype(int)
    assert a.shape == UP.shape, a.shape
    assert (a[:8, :8] > 240).all() and (np.abs(a[:8, -8:] - 128) < 8).all() and (a[8:] < 15).all()


def warned(check):
    "check: an `ImageScaleWarning` naming the file was emitted, then `check(x)`."
    def c(x, caught):
        ws = scale_warnings(caught)
        assert ws, "expected an ImageScaleWarning"
        check(x)
    return c


# What a camera stores for each EXIF orientation of an upright picture (inverse of the viewer's transform).
STORE = {1: lambda u: u, 2: np.fliplr, 3: lambda u: np.rot90(u, 2), 4: np.flipud, 5: lambda u: u.T,
         6: lambda u: np.rot90(u, 1), 7: lambda u: np.rot90(u, 2).T, 8: lambda u: np.rot90(u, -1)}


def exif(o: int) -> Image.Exif:
    e = Image.Exif(); e[0x0112] = o; return e


def stored(o: int) -> Image.Image: return Image.fromarray(np.ascontiguousarray(STORE[o](UP)))


def pages(n: int, name: str, fmt: str):
    frames = [Image.fromarray((G + 10 * k).astype(np.uint8)) for k in range(n)]
    if fmt == "GIF": frames = [f.convert("P") for f in frames]
    return save(frames[0], name, save_all=True, append_images=frames[1:])


def rgba_border() -> Image.Image:
    a = np.zeros((10, 12, 4), np.uint8); a[..., :3] = 170; a[2:8, 3:9, 3] = 255  # colour everywhere, opaque centre only
    return Image.fromarray(a)


RGBA_EXPECTED = np.where(np.asarray(rgba_border())[..., 3] == 255, 170, 0).astype(np.uint8)


def la_image() -> Image.Image:
    alpha = np.zeros_like(G); alpha[:, 6:] = 255
    return Image.fromarray(np.stack([G, alpha], -1), "LA")


def palette_with_transparency() -> Image.Image:
    p = Image.fromarray((G % 4).astype(np.uint8), "P"); p.putpalette([0, 0, 0, 50, 50, 50, 100, 100, 100, 200, 200, 200])
    return p


PAL_EXPECTED = np.array([0, 50, 100, 0], np.uint8)[G % 4]  # colour 3 is the transparent one: black


def shipped(package: str, rel: str, name: str):
    "A `write` function that copies an image shipped inside an installed pip package (skips if it is not installed)."
    def write(d: Path) -> Path:
        spec = importlib.util.find_spec(package)
        src = Path(spec.origin).parent / rel if spec and spec.origin else None
        if src is None or not src.is_file(): pytest.skip(f"{package} does not ship {rel} here")
        d.mkdir(parents=True, exist_ok=True); (d / name).write_bytes(src.read_bytes()); return d / name
    return write


def shipped_check(package: str, rel: str):
    def check(x, caught):
        spec = importlib.util.find_spec(package)
        with Image.open(Path(spec.origin).parent / rel) as im:
            rgba = np.asarray(im.convert("RGBA")).astype(np.float32)
            luma = np.asarray(Image.fromarray(np.rint(rgba[..., :3] * rgba[..., 3:] / 255).astype(np.uint8)).convert("L"))
            opaque = im.mode not in ("RGBA", "LA", "PA") and "transparency" not in im.info
        assert x.shape == (1, *luma.shape)
        assert (x[0].numpy() == luma).all()
        if not opaque: assert (x[0].numpy()[rgba[..., 3] == 0] == 0).all()  # transparent pixels are background
    return check


# ---------------------------------------------------------------- folder trees
def tree(tmp: Path, classes=("glioma", "meningioma")) -> Path:
    "`tmp/tree/Training/<class>/ok.png` for each class; returns the `Training` folder."
    t = tmp / "tree" / "Training"
    for c in classes:
        (t / c).mkdir(parents=True, exist_ok=True); Image.fromarray(G).save(t / c / "ok.png")
    return t


def folder_stray(tmp):
    t = tree(tmp)
    for junk in ("notes.txt", "Thumbs.db", "desktop.ini", "scan_protocol.pdf", "README"): (t / "glioma" / junk).write_bytes(b"junk")
    return t.parent


def check_stray(ds, caught):
    assert len(ds) == 2 and ds.report["skipped"] == []
    got = sorted((Path(i["path"]).name, i["kind"]) for i in ds.report["ignored"])
    assert got == [(n, "not an image") for n in sorted(("notes.txt", "Thumbs.db", "desktop.ini", "scan_protocol.pdf", "README"))]
    assert all(i["reason"] for i in ds.report["ignored"])


def folder_hidden(tmp):
    t = tree(tmp)
    (t / "glioma" / ".DS_Store").write_bytes(b"\0\1junk")
    (t / "glioma" / "._ok.png").write_bytes(b"\0\5\26\7 AppleDouble")  # macOS resource fork: an "image" name, not an image
    (t / "glioma" / ".ipynb_checkpoints").mkdir(); Image.fromarray(G).save(t / "glioma" / ".ipynb_checkpoints" / "x.png")
    return t.parent


def check_hidden(ds, caught):
    assert len(ds) == 2 and ds.report["skipped"] == []
    assert sorted(Path(i["path"]).name for i in ds.report["ignored"] if i["kind"] == "hidden") == [".DS_Store", "._ok.png", ".ipynb_checkpoints"]


def folder_empty_class(tmp):
    t = tree(tmp); (t / "pituitary").mkdir(); return t / "pituitary"


def folder_junk_only_class(tmp):
    t = tree(tmp); (t / "notumor").mkdir(); (t / "notumor" / "Thumbs.db").write_bytes(b"x"); return t / "notumor"


def folder_broken_link(tmp):
    t = tree(tmp); (t / "glioma" / "moved.png").symlink_to(tmp / "elsewhere" / "moved.png"); return t / "glioma" / "moved.png"


def folder_link_to_image(tmp):
    t = tree(tmp); Image.fromarray(G).save(tmp / "real.png"); (t / "glioma" / "linked.png").symlink_to(tmp / "real.png")
    return t.parent


def check_link(ds, caught):
    assert len(ds) == 3 and any(n.endswith("glioma/linked.png") for n in ds.names)
    x = ds.load_image(ds.names.index("Training/glioma/linked.png"))
    assert (x == read_image(Path(ds.root).parent / "real.png", 16)).all()  # the link's target, read through the link


def folder_bad_image(tmp):
    t = tree(tmp); d = encoded(Image.fromarray(G), "JPEG"); (t / "glioma" / "cut.jpg").write_bytes(d[: len(d) // 2])
    return t / "glioma" / "cut.jpg"


def folder_text_as_png(tmp):
    t = tree(tmp); (t / "meningioma" / "report.png").write_text("this is a radiology report, not a picture"); return t / "meningioma" / "report.png"


def folder_multipage(tmp):
    t = tree(tmp); pages(4, "stack.tif", "TIFF")(t / "glioma"); return t / "glioma" / "stack.tif"


def folder_upper_nested(tmp):
    t = tree(tmp); (t / "glioma" / "patient_01").mkdir(); Image.fromarray(G).save(t / "glioma" / "patient_01" / "SLICE.JPG", quality=100)
    return t.parent


def check_upper_nested(ds, caught):
    assert ds.names == ["Training/glioma/ok.png", "Training/glioma/patient_01/SLICE.JPG", "Training/meningioma/ok.png"]
    assert ds.report["counts"]["glioma"] == 2


def folder_exif_in_tree(tmp):
    t = tree(tmp); stored(6).save(t / "meningioma" / "phone.jpg", quality=100, exif=exif(6)); return t.parent


def check_exif_in_tree(ds, caught):
    x = ds.cache.get(ds.paths[ds.names.index("Training/meningioma/phone.jpg")], ds.image_size)
    assert x.shape == (1, 16, 16) and int(x[0, 0, 0]) > 200 and int(x[0, -1, 0]) < 30  # resized, but still upright


# ---------------------------------------------------------------- the cases
L8 = Image.fromarray(G)
CASES = [
    # JPEG: EXIF orientation, every value of the tag
    *[Case(f"jpeg-exif-orientation-{o}", "jpeg", save(stored(o), f"exif{o}.jpg", quality=100, exif=exif(o)), "ok", upright,
           note="viewers apply Orientation; the tensor must show what the user saw") for o in range(1, 9)],
    Case("jpeg-grey", "jpeg", save(L8, "grey.jpg", quality=100), "ok", close(G, 2)),
    Case("jpeg-rgb-equal-channels", "jpeg", save(L8.convert("RGB"), "rgb.jpg", quality=100), "ok", close(G, 2)),
    Case("jpeg-cmyk", "jpeg", save(L8.convert("CMYK"), "cmyk.jpg", quality=100), "ok", close(G, 2)),
    Case("jpeg-progressive", "jpeg", save(L8, "prog.jpg", quality=100, progressive=True), "ok", close(G, 2)),
    Case("jpeg-mpo-first-picture", "jpeg", save(L8, "phone.mpo", format="MPO", quality=100, save_all=True, append_images=[Image.fromarray(255 - G)]),
         "ok", close(G, 3), note="an MPO's later pictures are previews: the first is the photo"),
    Case("jpeg-truncated", "jpeg", truncated(L8, "JPEG", "cut.jpg"), "refused", match="(?i)truncated"),
    Case("jpeg-zero-bytes", "jpeg", raw(b"", "empty.jpg"), "refused", match="empty file"),
    Case("jpeg-text-with-jpg-extension", "jpeg", raw(b"patient notes, not a picture\n" * 5, "notes.jpg"), "refused", match="cannot read image"),
    Case("jpeg-header-only", "jpeg", raw(b"\xff\xd8\xff\xe0" + b"\0" * 40, "header.jpg"), "refused"),
    Case("jpeg-truncated-skip-bad", "jpeg", truncated(L8, "JPEG", "cut_skip.jpg"), "skipped"),
    # PNG
    Case("png-grey-8bit", "png", save(L8, "g8.png"), "ok", exact(G)),
    Case("png-16bit-is-8bit-x257", "png", save(Image.fromarray(G.astype(np.uint16) * 257), "g16.png"), "ok", exact(G),
         note="same picture at 16 bits: same tensor"),
    Case("png-16bit-12-bit-values", "png", save(Image.fromarray(G.astype(np.uint16) * 16), "g12.png"), "ok",
         warned(lambda x: (x[0].numpy() == np.rint(G.astype(int) * 16 / 257)).all() or pytest.fail("not v/257")),
         note="by the full 16-bit range it reads dark, and the reader says so"),
    Case("png-palette", "png", save(L8.convert("P"), "pal.png"), "ok", exact(G)),
    Case("png-palette-transparent-colour", "png", save(palette_with_transparency(), "paltr.png", transparency=3), "ok", exact(PAL_EXPECTED)),
    Case("png-rgba-transparent-border", "png", save(rgba_border(), "rgba.png"), "ok", exact(RGBA_EXPECTED),
         note="transparent means background: black, not the colour left under alpha 0"),
    Case("png-la", "png", save(la_image(), "la.png"), "ok", exact(np.where(np.arange(12) >= 6, G, 0).astype(np.uint8))),
    Case("png-grey-with-trns", "png", save(L8, "ltrns.png", transparency=0), "ok", exact(G)),
    Case("png-1bit", "png", save(Image.fromarray(G > 100), "bits.png"), "ok", exact(np.where(G > 100, 255, 0).astype(np.uint8))),
    Case("png-exif-orientation-6", "png", save(stored(6), "exif6.png", exif=exif(6)), "ok", upright),
    Case("png-missing-iend", "png", raw(encoded(L8, "PNG")[:-12], "noiend.png"), "ok", exact(G),
         note="every pixel is there; only the end marker is missing"),
    Case("png-truncated-idat", "png", truncated(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64)).astype(np.uint8)), "PNG", "cut.png"),
         "refused", match="(?i)truncated"),
    Case("png-zero-bytes", "png", raw(b"", "empty.png"), "refused", match="empty file"),
    Case("png-signature-only", "png", raw(b"\x89PNG\r\n\x1a\n", "sig.png"), "refused"),
    Case("png-html-error-page", "png", raw(b"<html><body>403 Forbidden</body></html>", "download.png"), "refused"),
    # TIFF
    Case("tiff-16bit", "tiff", save(Image.fromarray(G.astype(np.uint16) * 257), "g16.tif"), "ok", exact(G)),
    Case("tiff-16bit-big-endian", "tiff", save(Image.frombytes("I;16B", (12, 10), (G.astype(">u2") * 257).tobytes()), "g16b.tif"), "ok", exact(G)),
    Case("tiff-int32-in-16bit-range", "tiff", save(Image.fromarray(G.astype(np.int32) * 257), "i32.tif"), "ok", exact(G)),
    Case("tiff-int32-negative", "tiff", save(Image.fromarray(G.astype(np.int32) - 100), "i32neg.tif"), "ok",
         warned(lambda x: (int(x[0, 0, 0]), int(x[0, -1, -1])) == (0, 255) or pytest.fail("not min-max"))),
    Case("tiff-float-0-1", "tiff", save(Image.fromarray(G.astype(np.float32) / 255), "f01.tif"), "ok", exact(G)),
    Case("tiff-float-negative", "tiff", save(Image.fromarray(G.astype(np.float32) * 10 - 1000), "fneg.tif"), "ok",
         warned(lambda x: (int(x[0, 0, 0]) == 0 and int(x[0, -1, -1]) == 255 and (np.diff(x[0].numpy().astype(int).ravel()) >= 0).all())
                or pytest.fail("order or range lost")),
         note="min-max keeps the order (negatives darkest) and warns that the sign is gone"),
    Case("tiff-float-constant", "tiff", save(Image.fromarray(np.full((10, 12), 0.5, np.float32)), "fconst.tif"), "ok",
         exact(np.full((10, 12), 128, np.uint8))),
    Case("tiff-float-nan", "tiff", save(Image.fromarray(np.where(G > 50, np.nan, G / 255).astype(np.float32)), "fnan.tif"),
         "refused", match="NaN"),
    Case("tiff-multipage", "tiff", pages(3, "stack.tif", "TIFF"), "refused", match="3 pages"),
    Case("tiff-multipage-skip-bad", "tiff", pages(2, "stack2.tif", "TIFF"), "skipped"),
    Case("tiff-orientation-tag-8", "tiff", save(stored(8), "o8.tif", exif=exif(8)), "ok", upright),
    Case("tiff-rgb-deflate", "tiff", save(L8.convert("RGB"), "rgb.tif", compression="tiff_deflate"), "ok", exact(G)),
    Case("tiff-truncated", "tiff", truncated(Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64)).astype(np.uint8)), "TIFF", "cut.tif"),
         "refused", match="(?i)truncated"),
    Case("tiff-zero-bytes", "tiff", raw(b"", "empty.tif"), "refused", match="empty file"),
    # BMP
    Case("bmp-grey", "bmp", save(L8, "g.bmp"), "ok", exact(G)),
    Case("bmp-rgb", "bmp", save(L8.convert("RGB"), "rgb.bmp"), "ok", exact(G)),
    Case("bmp-truncated", "bmp", truncated(L8, "BMP", "cut.bmp"), "refused", match="(?i)truncated"),
    Case("bmp-zero-bytes", "bmp", raw(b"", "empty.bmp"), "refused", match="empty file"),
    # GIF
    Case("gif-single-frame", "gif", save(L8.convert("P"), "one.gif"), "ok", exact(G)),
    Case("gif-transparent-colour", "gif", save(palette_with_transparency(), "tr.gif", transparency=3), "ok", exact(PAL_EXPECTED)),
    Case("gif-animated", "gif", pages(2, "anim.gif", "GIF"), "refused", match="2 pages"),
    Case("gif-animated-skip-bad", "gif", pages(3, "anim3.gif", "GIF"), "skipped"),
    Case("gif-truncated", "gif", truncated(Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64)).astype(np.uint8)).convert("P"), "GIF", "cut.gif"),
         "refused", match="(?i)truncated"),
    # files that ship inside installed pip packages
    Case("shipped-sklearn-china-jpg", "shipped", shipped("sklearn", "datasets/images/china.jpg", "china.jpg"), "ok",
         shipped_check("sklearn", "datasets/images/china.jpg")),
    Case("shipped-scipy-dots-png", "shipped", shipped("scipy", "ndimage/tests/dots.png", "dots.png"), "ok",
         shipped_check("scipy", "ndimage/tests/dots.png")),
    Case("shipped-ipywidgets-transparent-logo", "shipped",
         shipped("ipywidgets", "widgets/tests/data/jupyter-logo-transparent.png", "logo.png"), "ok",
         shipped_check("ipywidgets", "widgets/tests/data/jupyter-logo-transparent.png")),
    # class folders
    Case("folder-stray-non-image-files", "folder", folder_stray, "ok", check_stray,
         note="not images, so not bad images: ignored and listed, no skip_bad needed"),
    Case("folder-hidden-files-and-folders", "folder", folder_hidden, "ok", check_hidden),
    Case("folder-valid-symlink", "folder", folder_link_to_image, "ok", check_link),
    Case("folder-uppercase-extension-nested", "folder", folder_upper_nested, "ok", check_upper_nested),
    Case("folder-exif-jpeg", "folder", folder_exif_in_tree, "ok", check_exif_in_tree),
    Case("folder-empty-class", "folder", folder_empty_class, "refused", match="holds no images"),
    Case("folder-empty-class-skip-bad", "folder", folder_empty_class, "skipped"),
    Case("folder-class-with-only-junk", "folder", folder_junk_only_class, "refused", match="holds no images"),
    Case("folder-broken-symlink", "folder", folder_broken_link, "refused", match="broken symbolic link"),
    Case("folder-broken-symlink-skip-bad", "folder", folder_broken_link, "skipped"),
    Case("folder-truncated-jpeg", "folder", folder_bad_image, "refused", match="(?i)truncated"),
    Case("folder-truncated-jpeg-skip-bad", "folder", folder_bad_image, "skipped"),
    Case("folder-text-with-png-extension-skip-bad", "folder", folder_text_as_png, "skipped",
         note="an image extension that fails to decode stays a bad image"),
    Case("folder-multipage-tiff-skip-bad", "folder", folder_multipage, "skipped"),
]
if features.check("webp"):
    CASES += [Case("webp-lossless", "webp", save(L8, "g.webp", lossless=True), "ok", exact(G))]


# ---------------------------------------------------------------- running a case
def read_file_case(case: Case, tmp_path: Path):
    path = case.write(tmp_path / "files")
    if case.expect == "ok":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x = read_image(path, None)
        for w in scale_warnings(caught): assert path.name in str(w.message), w.message
        case.check(x, caught)
    elif case.expect == "refused":
        with pytest.raises(ImageReadError) as e: read_image(path, None)
        assert path.name in str(e.value), e.value
        if case.match: assert re.search(case.match, str(e.value)), e.value
    else:  # skipped: in a class folder, with skip_bad
        t = tree(tmp_path)
        p = case.write(t / "glioma")
        with pytest.raises(ImageReadError, match=re.escape(p.name)): MRIFolder(t.parent, "Training", 16, progress=False)
        ds = MRIFolder(t.parent, "Training", 16, skip_bad=True, progress=False)
        assert [s["path"] for s in ds.report["skipped"]] == [str(p)] and len(ds) == 2


def read_folder_case(case: Case, tmp_path: Path):
    at_fault = case.write(tmp_path)
    root = tmp_path / "tree"
    if case.expect == "ok":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = MRIFolder(root, "Training", 16, progress=False)
        case.check(ds, caught)
        return
    with pytest.raises((ImageReadError, ValueError)) as e: MRIFolder(root, "Training", 16, progress=False)
    assert str(at_fault) in str(e.value), e.value  # the full path of the file or folder at fault
    if case.expect == "refused":
        if case.match: assert re.search(case.match, str(e.value)), e.value
    else:
        ds = MRIFolder(root, "Training", 16, skip_bad=True, progress=False)
        assert str(at_fault) in [s["path"] for s in ds.report["skipped"]], ds.report["skipped"]
        assert all(s["reason"] and s["kind"] for s in ds.report["skipped"])
        assert not any(i["path"] == str(at_fault) for i in ds.report["ignored"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_awkward_image(case, tmp_path):
    (read_folder_case if case.kind == "folder" else read_file_case)(case, tmp_path)


def test_case_names_are_unique():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_outcome_counts():
    counts = outcome_counts(CASES)
    print(counts)
    assert counts["total"] >= 45
    assert all(counts[o] > 0 for o in ("ok", "refused", "skipped")), counts
    assert {"jpeg", "png", "tiff", "bmp", "gif", "folder"} <= set(counts["by_kind"])
