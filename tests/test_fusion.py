"Multi-modal fusion and segmentation end to end on an LGG-layout fixture: missing sequences, patient-level splits, SSL weights reaching the U-Net."
import numpy as np
import pytest
import torch

from brainssl.encoder import Encoder, load_encoder, save_encoder
from brainssl.fusion import (FusionHead, LateFusion, missing_modality_table, modality_features, modality_presence,
                             predict_fusion, train_fusion)
from brainssl.methods.crossmodal import CrossModal
from brainssl.data.lgg import LGGSlices
from brainssl.data.splits import patient_overlap, patient_split
from brainssl.testing import make_lgg_fixture
from brainssl.segment import patient_subset, predict_masks, segmentation_metrics, segmenter_from_encoder, train_segmenter


@pytest.fixture(scope="module")
def lgg(tmp_path_factory):
    "8 patients x 6 slices at 32 px; patient 0 has its T1-CE replaced by a FLAIR copy, as in the real set."
    root = make_lgg_fixture(tmp_path_factory.mktemp("lgg"), n_patients=8, n_slices=6, image_size=32, flair_copy={0: "t1ce"})
    return LGGSlices(root, image_size=32, progress=False)


def test_no_patient_in_two_splits(lgg):
    split = patient_split(lgg, (0.5, 0.25, 0.25), seed=1)
    assert patient_overlap(split, lgg) == {}
    assert sorted(np.concatenate(list(split.values()))) == list(range(len(lgg)))
    for frac in (0.25, 1.0):  # label fractions draw whole training patients, never test ones
        sub = patient_subset(lgg, split["train"], frac, seed=0)
        assert set(lgg.patients[sub]) <= set(lgg.patients[split["train"]])
        assert np.isin(lgg.patients[split["train"]], lgg.patients[sub]).sum() == len(sub)


def test_flair_copy_is_missing_everywhere_downstream(lgg):
    pres = modality_presence(lgg)
    p0 = lgg.patients == "TCGA_CS_1000"
    assert not pres[p0, 2].any() and pres[~p0].all()
    idx = np.flatnonzero(p0)[:2].tolist() + [len(lgg) - 1]
    assert (modality_presence(lgg.subset(idx)) == pres[idx]).all()
    # a late-fusion model never sees the (zeroed) missing channel: changing it changes nothing
    model = LateFusion(Encoder(in_channels=1, seed=0), 2, n_modalities=3, mode="attention").eval()
    x = torch.stack([lgg[i]["image"] for i in idx])
    x2 = x.clone(); x2[:2, 2] = 0.5
    p = torch.from_numpy(pres[idx])
    with torch.no_grad(): assert torch.allclose(model(x, p), model(x2, p), atol=1e-6)


def test_fusion_head_on_frozen_features_and_missing_table(lgg):
    split = patient_split(lgg, (0.75, 0.25), seed=0)
    enc = Encoder(in_channels=1, seed=0)
    H = modality_features(enc, lgg, device="cpu", progress=False)
    assert H.shape == (len(lgg), 3, enc.dim)
    pres = modality_presence(lgg)
    tr, te = split["train"], split["test"]
    head = FusionHead(enc.dim, 3, 2, "concat")
    hist = train_fusion(head, H[tr], lgg.labels[tr], pres[tr], epochs=5, batch_size=8, p_drop=0.3, device="cpu", progress=False)
    assert len(hist) == 5 and np.isfinite(hist).all()
    proba = predict_fusion(head, H[te], pres[te], device="cpu")
    assert proba.shape == (len(te), 2) and np.allclose(proba.sum(1), 1)
    rows = missing_modality_table(head, H[te], lgg.labels[te], lgg.modalities, lgg.classes, pres[te], n_boot=20, device="cpu")
    assert [r["removed"] for r in rows[:4]] == [None, "t1", "flair", "t1ce"]
    assert rows[0]["accuracy_lost"] == 0 and all(0 <= r["accuracy"] <= 1 for r in rows)


def test_crossmodal_is_registered_and_refuses_one_channel():
    "CrossModal needs >= 2 channels: it is registered, refused on 1-channel data, and left out of 1-channel loops."
    from brainssl.methods.base import get_method, list_methods
    assert get_method("crossmodal") is CrossModal and "crossmodal" in list_methods()
    assert "crossmodal" not in list_methods(in_channels=1) and "crossmodal" in list_methods(in_channels=2)
    with pytest.raises(ValueError, match="at least 2 channels"): CrossModal(in_channels=1)


def test_segmentation_starts_from_the_ssl_encoder_and_scores(lgg, tmp_path):
    ssl = Encoder(in_channels=1, seed=5)
    path = save_encoder(ssl, tmp_path / "encoder.safetensors")
    net = segmenter_from_encoder(path, in_channels=3, seed=0)
    ref = load_encoder(path).state_dict()
    got = net.encoder.state_dict()
    assert all(torch.equal(got[k], v) for k, v in ref.items() if k != "net.conv1.weight")
    split = patient_split(lgg, (0.75, 0.25), seed=0)
    losses = train_segmenter(net, lgg.subset(split["train"]), steps=3, batch_size=8, device="cpu", progress=False)
    assert len(losses) == 3 and np.isfinite(losses).all()
    te = split["test"]
    pred = predict_masks(net, lgg.subset(te), device="cpu")
    m = segmentation_metrics(pred, lgg.masks[te], lgg.patients[te], n_boot=50)
    assert m["n_slices"] == len(te) and set(m["dice_per_patient"]) <= set(lgg.patients[te])
    assert m["dice_patient"] is None or 0 <= m["dice_patient"] <= 1


def test_a_timm_resnet_works_for_gradcam_segmentation_and_the_multistage_readout():
    "Issue 14: a timm ResNet-family backbone (resnet10t) gives Grad-CAM maps, U-Net skips and the layer3+4 read-out."
    from torch import nn
    from brainssl.explain.attribution import attribution_maps, default_target_layer
    from brainssl.explain.classifier import Classifier
    from brainssl.segment import SSLUNet
    torch.manual_seed(0)
    enc = Encoder("resnet10t", in_channels=1, seed=0)
    clf = Classifier(enc, nn.Linear(enc.dim, 4)).eval()
    x = torch.rand(2, 1, 64, 64)
    assert default_target_layer(clf, x) in list(enc.net.modules())      # a timm residual block of the encoder
    maps = attribution_maps(clf, x, "gradcam")
    assert maps.shape == (2, 1, 64, 64) and torch.isfinite(maps).all() and 0 <= maps.min() and maps.max() <= 1
    occ = attribution_maps(clf, x, "occlusion")                          # model-agnostic: a non-empty map
    assert occ.shape == (2, 1, 64, 64) and occ.max() > 0
    assert SSLUNet(enc, out_channels=1).eval()(x).shape == (2, 1, 64, 64)
    with torch.no_grad(): assert enc.eval().pooled(x).shape == (2, 256 + 512)
    with pytest.raises(ValueError, match="ResNet-family"): SSLUNet(Encoder("vit_tiny_patch16_224"))
