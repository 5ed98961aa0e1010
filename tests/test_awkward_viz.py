"""Issue 15, "no silent wrong data", for what users look at: the explorer's panel, the UMAP map, the linear probe and
Grad-CAM's target layer. Each test is one awkward input that used to give a silently wrong picture or number.

Every test imports what it checks inside itself, so one missing name fails one test, not the file. Files are written
under pytest's `tmp_path`; nothing crafted is committed.
"""
import io, warnings

import numpy as np
import pytest
import torch
from PIL import Image

from brainssl.core import CLASSES, TensorMRIDataset


def hand_table(n: int = 8, paths=None, seed: int = 0):
    "A small `ExplorerTable` built without UMAP (its layout is two embedding columns), and its dataset."
    from brainssl.viz.explorer import ExplorerTable, label_error_candidates, nearest_neighbours
    X = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    nb, dist = nearest_neighbours(X, k=3)
    labels = np.arange(n) % 2
    table = ExplorerTable(coords=X[:, :2].copy(), labels=labels, classes=list(CLASSES), names=[f"s{i}.png" for i in range(n)],
                          paths=paths, predictions=None, splits=None, neighbours=nb, distances=dist,
                          label_errors=label_error_candidates(nb, labels, 0.5), duplicates=np.full(n, -1, np.int64), columns={})
    ds = TensorMRIDataset(torch.zeros(n, 1, 16, 16, dtype=torch.uint8), labels)
    return table, ds


def panel_pixels(ex) -> np.ndarray:
    "The explorer side panel's image, decoded."
    return np.asarray(Image.open(io.BytesIO(ex.image.value)))


# --- items 1 and 2: the explorer's full-size panel shows what training sees -------------------------------------------

def test_panel_shows_a_16bit_png_scaled_like_training(tmp_path):
    from brainssl.data.folder import read_image
    from brainssl.viz.explorer import Explorer
    p = tmp_path / "slice16.png"
    Image.fromarray((np.arange(48 * 32).reshape(32, 48) * 20).astype(np.uint16)).save(p)  # 0..30700: Pillow's "L" clips
    table, ds = hand_table(paths=[str(p)] * 8)
    ex = Explorer(table, ds, panel_size=64)
    ex.show_sample(0)
    shown = panel_pixels(ex)
    np.testing.assert_array_equal(shown, read_image(p, 64)[0].numpy())  # the decoder training uses
    assert (shown == 255).mean() < 0.05, f"{(shown == 255).mean():.0%} of the panel is saturated"


def test_panel_follows_the_reader_for_an_exif_rotated_jpeg(tmp_path):
    # whatever orientation `read_image` applies (it is being made EXIF-aware), the panel must show the same pixels
    from brainssl.data.folder import read_image
    from brainssl.viz.explorer import Explorer
    a = np.zeros((24, 40), np.uint8); a[:8, :10] = 255                   # a bright corner shows any rotation
    exif = Image.Exif(); exif[0x0112] = 6                                # "rotate 90 degrees clockwise to display"
    p = tmp_path / "rot.jpg"
    Image.fromarray(a).save(p, quality=95, exif=exif)
    table, ds = hand_table(paths=[str(p)] * 8)
    ex = Explorer(table, ds, panel_size=32)
    ex.show_sample(3)
    np.testing.assert_array_equal(panel_pixels(ex), read_image(p, 32)[0].numpy())


# --- item 9: UMAP merges exact duplicates and says so; tiny sets fall back with a note -------------------------------

def test_duplicate_embeddings_share_one_point_and_the_figure_says_how_many():
    from brainssl.viz.embedmap import embedding_map, layout_note, umap_embed
    X = np.random.default_rng(0).normal(size=(24, 8)).astype(np.float32)
    Xd = np.concatenate([X, np.repeat(X[:1], 10, axis=0)])           # row 0 eleven times
    Y = umap_embed(Xd, n_neighbors=5)
    assert Y.shape == (34, 2)
    assert np.ptp(Y[[0, *range(24, 34)]], axis=0).max() == 0, "identical embeddings drawn at different points"
    note = layout_note(Xd)
    assert "10 exact duplicate embeddings merged" in note
    fig = embedding_map(Y, np.zeros(34, int), CLASSES, [f"s{i}" for i in range(34)], note=note)
    assert "10 exact duplicate embeddings merged" in fig.layout.title.text


def test_three_points_get_a_pca_layout_and_a_named_warning():
    from brainssl.viz.embedmap import LayoutWarning, UMAP_MIN_POINTS, layout_note, umap_embed
    X = np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32)
    with pytest.warns(LayoutWarning, match=f"UMAP needs at least {UMAP_MIN_POINTS}"):
        Y = umap_embed(X)
    assert Y.shape == (3, 2) and np.isfinite(Y).all() and len(np.unique(Y, axis=0)) == 3
    assert "PCA layout" in layout_note(X)


# --- item 11: Grad-CAM target layers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clf():
    from brainssl.encoder import Encoder
    from brainssl.explain.classifier import Classifier
    enc = Encoder(in_channels=1, small_images=True, seed=0)
    return Classifier(enc, torch.nn.Linear(enc.dim, 2)).eval()


def test_a_misspelt_layer_name_lists_the_closest_names(clf):
    from brainssl.explain.attribution import attribution_maps
    with pytest.raises(ValueError, match=r"closest names: \['encoder.net.layer4.1.conv1'"):
        attribution_maps(clf, torch.rand(1, 1, 32, 32), "gradcam", layer="encoder.net.layer4.1.con1")


def test_a_layer_that_runs_twice_per_forward_is_refused(clf):
    from brainssl.explain.attribution import attribution_maps
    x = torch.rand(1, 1, 32, 32)
    with pytest.raises(ValueError, match=r"runs 2 times in one forward pass.*'encoder.net.layer4.1'"):
        attribution_maps(clf, x, "gradcam", layer=clf.encoder.net.layer4[-1].relu)  # BasicBlock calls its relu twice
    assert attribution_maps(clf, x, "gradcam", layer="encoder.net.layer4.1").shape == (1, 1, 32, 32)


# --- item 12: a probe that did not converge says so -----------------------------------------------------------------

def test_linear_probe_reports_a_fit_that_did_not_converge():
    from sklearn.exceptions import ConvergenceWarning
    from brainssl.eval.probes import linear_probe
    g = np.random.default_rng(0)
    y = np.arange(40) % 2
    X = g.normal(size=(40, 8)) + 3 * y[:, None]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, info = linear_probe(X, y, X[:5], Cs=[1.0], cv=2, max_iter=1)
    assert info["converged"] is False and info["cv_not_converged"] == 2
    named = [w for w in caught if issubclass(w.category, ConvergenceWarning) and "linear_probe" in str(w.message)]
    assert len(named) == 1, [str(w.message) for w in caught]
    _, ok = linear_probe(X, y, X[:5], Cs=[1.0], cv=2)
    assert ok["converged"] is True and ok["cv_not_converged"] == 0


# --- item 13: Explorer.highlight keeps the indices it was given ------------------------------------------------------

def test_highlight_keeps_its_indices_when_the_check_box_reruns_it():
    from brainssl.viz.explorer import Explorer
    table, ds = hand_table()
    ex = Explorer(table, ds)
    ring = lambda: sorted(int(i) for tr in ex.fig.data if tr.meta == "highlight:label errors" for i in tr.customdata)
    ex.highlight("label errors", indices=[1, 6])
    assert ring() == [1, 6]
    box = ex.highlight_boxes["label errors"]
    assert box.value is True
    box.value = False                                                    # the widget's own callback: rings off
    assert ring() == []
    box.value = True                                                     # and on again: the same indices
    assert ring() == [1, 6]


def test_explorer_and_its_page_say_how_many_duplicates_were_merged(tmp_path):
    from brainssl.viz.explorer import Explorer, explorer_table, save_explorer_html
    X = np.concatenate([np.random.default_rng(2).normal(size=(9, 6)), np.ones((3, 6))]).astype(np.float32)  # 3 copies
    ds = TensorMRIDataset(torch.zeros(12, 1, 8, 8, dtype=torch.uint8), np.arange(12) % 4)
    table = explorer_table(X, ds, k=3, n_clusters=2, n_neighbors=4)
    assert table.note == "2 exact duplicate embeddings merged (12 samples drawn at 10 points)"
    assert table.note in Explorer(table, ds).fig.layout.title.text
    page = save_explorer_html(table, ds, tmp_path / "e.html", progress=False).read_text()
    assert "2 exact duplicate embeddings merged" in page
