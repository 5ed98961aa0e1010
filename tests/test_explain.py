"Attribution maps on the classifiers brainssl actually builds: a Lightning `FineTuner`, a saved-and-reloaded encoder, odd input sizes."
import base64, io

import numpy as np
import pytest
import torch
from PIL import Image

from brainssl.encoder import Encoder, load_encoder, save_encoder
from brainssl.eval.finetune import FineTuner
from brainssl.explain.attribution import ATTRIBUTION_METHODS, EmbeddingSimilarity, attribution_maps, default_target_layer
from brainssl.explain.classifier import Classifier
from brainssl.explain.figures import gradcam_overlay_png
from brainssl.explain.localisation import localisation_scores
from brainssl.explain.sanity import model_randomisation_check


@pytest.fixture(scope="module")
def finetuner():
    torch.manual_seed(0)
    return FineTuner(Encoder(in_channels=2, small_images=True, seed=0), n_classes=4).eval()


@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_finetuner_maps_have_input_shape_and_range(finetuner, method):
    # a FineTuner (encoder + head, as `finetune_proba` trains it) is explained directly; 2 channels, non-square input
    x = torch.rand(3, 2, 40, 48)
    before = {k: v.clone() for k, v in finetuner.state_dict().items()}
    maps = attribution_maps(finetuner, x, method, class_idx=[0, 3, 1])
    assert maps.shape == (3, 1, 40, 48)
    assert torch.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    assert all(torch.equal(v, finetuner.state_dict()[k]) for k, v in before.items()), "explaining changed the weights"
    assert finetuner.encoder.net.relu.inplace, "explaining switched off the caller's in-place ReLU"


def test_frozen_encoder_still_gives_gradcam(tmp_path):
    # a frozen, reloaded encoder (requires_grad False) must still send gradients to the hooked layer
    enc = load_encoder(save_encoder(Encoder(in_channels=1, small_images=True, seed=1), tmp_path / "e.safetensors"))
    for p in enc.parameters(): p.requires_grad_(False)
    model = Classifier(enc, torch.nn.Linear(enc.dim, 2)).eval()
    maps = attribution_maps(model, torch.rand(2, 1, 32, 32), "gradcam", class_idx=1)
    assert maps.shape == (2, 1, 32, 32) and torch.isfinite(maps).all()
    assert not any(p.requires_grad for p in enc.parameters())


def test_target_layer_survives_wrapping():
    # the same module object is found whether the encoder is wrapped in a Classifier or a similarity scorer
    enc = Encoder(in_channels=1, seed=0).eval()
    x = torch.rand(1, 1, 64, 64)
    a = default_target_layer(Classifier(enc, torch.nn.Linear(enc.dim, 2)), x)
    b = default_target_layer(EmbeddingSimilarity(enc, torch.ones(enc.dim)), x)
    assert a is b is enc.net.layer3[-1]


def test_overlay_png_is_a_readable_image():
    enc = Encoder(in_channels=1, small_images=True, seed=0)
    model = Classifier(enc, torch.nn.Linear(enc.dim, 2)).eval()
    uri = gradcam_overlay_png(model, (torch.rand(1, 32, 32) * 255).to(torch.uint8), size=96)
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.size == (96, 96) and img.mode == "RGB"


def test_scores_ignore_empty_masks():
    maps = torch.rand(3, 1, 8, 8)
    masks = torch.zeros(3, 1, 8, 8, dtype=torch.uint8); masks[0, 0, 2:4, 2:4] = 1
    s = localisation_scores(maps, masks)
    assert np.isfinite(s["pointing"][0]) and np.isnan(s["pointing"][1:]).all()


def test_randomisation_is_seeded():
    enc = Encoder(in_channels=1, small_images=True, seed=0)
    model = Classifier(enc, torch.nn.Linear(enc.dim, 2)).eval()
    x = torch.rand(2, 1, 32, 32)
    a = model_randomisation_check(model, x, ["gradcam"], cascade=False, seed=3)
    b = model_randomisation_check(model, x, ["gradcam"], cascade=False, seed=3)
    assert a == b and a["stages"] == ["all"]


def test_vit_gradcam_maps_have_the_input_shape(tmp_path):
    "Issue 18: Grad-CAM on a ViT encoder (reloaded from its file) reads the tokens entering the last block, on the patch grid."
    from brainssl.vit import vit_kwargs
    enc = load_encoder(save_encoder(Encoder("vit_tiny_patch16_224", seed=0, timm_kwargs=vit_kwargs(32, depth=2)), tmp_path / "vit.safetensors"))
    model = Classifier(enc, torch.nn.Linear(enc.dim, 3)).eval()
    assert default_target_layer(model) is enc.net.blocks[-1].norm1
    for method in ("gradcam", "gradcampp"):
        for shape in ((3, 1, 32, 32), (2, 1, 48, 40)):   # the training size, and another one (a 12x10 patch grid)
            maps = attribution_maps(model, torch.rand(*shape), method, class_idx=1)
            assert maps.shape == (shape[0], 1, *shape[2:]) and torch.isfinite(maps).all()
            assert maps.min() >= 0 and maps.max() <= 1 and (maps.flatten(1).std(1) > 0).all(), f"{method} {shape}: flat map"
    sim = attribution_maps(EmbeddingSimilarity(enc, torch.ones(enc.dim)), torch.rand(2, 1, 32, 32), "gradcam", class_idx=0)
    assert sim.shape == (2, 1, 32, 32)


def test_vit_randomisation_cascade_with_mean_token_readout(tmp_path):
    "Issue 18: a reloaded avg-pooled ViT (its final norm is `fc_norm`) under an `EmbeddingSimilarity`: cascade from `fc_norm` down to the position embedding."
    from brainssl.explain.sanity import cascade_stages, randomise_weights
    from brainssl.vit import vit_kwargs
    enc = load_encoder(save_encoder(Encoder("vit_tiny_patch16_224", seed=0, timm_kwargs=vit_kwargs(32, global_pool="avg", depth=2)),
                                    tmp_path / "vit.safetensors"))
    model = EmbeddingSimilarity(enc, torch.ones(enc.dim)).eval()
    stages = cascade_stages(model)
    assert [n for n, _ in stages] == ["norm", "blocks.1", "blocks.0", "patch_embed"]
    assert stages[0][1] == [enc.net.fc_norm]
    r = randomise_weights(model, 2, seed=1)
    assert not torch.equal(r.encoder.net.blocks[0].attn.proj.weight, enc.net.blocks[0].attn.proj.weight)
    assert torch.equal(r.encoder.net.pos_embed, enc.net.pos_embed) and torch.equal(r.encoder.net.patch_embed.proj.weight, enc.net.patch_embed.proj.weight)
    r = randomise_weights(model, seed=1)
    assert not torch.equal(r.encoder.net.pos_embed, enc.net.pos_embed) and not torch.equal(r.encoder.net.cls_token, enc.net.cls_token)
    res = model_randomisation_check(model, torch.rand(2, 1, 32, 32), ["gradcam"], seed=1)
    assert res["stages"] == ["norm", "blocks.1", "blocks.0", "patch_embed"] and len(res["methods"]["gradcam"]["spearman"]) == 4
