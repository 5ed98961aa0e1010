"Every registered SSL method trains through the shared `pretrain` path, changes its encoder, and stays small."
import inspect, json, math, subprocess
from pathlib import Path

import pytest
import torch

from brainssl.encoder import Encoder, embed, load_encoder
from brainssl.methods.base import MomentumSSLMethod, SSLMethod, get_method, list_methods, pretrain
from brainssl.data.synthetic import synthetic_splits
from conftest import ROOT, brainssl_cmd

# The review's families (issue 3) plus the optional Barlow Twins: each must be registered.
EXPECTED = {"simclr", "moco", "byol", "barlow_twins", "swav", "deepcluster", "autoencoder", "vae", "gan", "rotation", "jigsaw"}
FAMILIES = {"Contrastive", "Redundancy reduction", "Clustering", "Generative", "Pretext"}
METHODS = sorted(list_methods(in_channels=1))   # crossmodal needs 2 channels: tests/test_fusion.py


def test_every_review_method_is_registered_with_a_family():
    missing = EXPECTED - set(METHODS)
    assert not missing, f"methods not registered: {sorted(missing)}"
    for name, desc in list_methods().items():
        assert desc.split(" (")[0] in FAMILIES, f"{name}: description must start with a family, got {desc!r}"


def test_cli_lists_every_method():
    r = subprocess.run(brainssl_cmd() + ["methods"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0
    listed = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
    assert listed == set(list_methods())


@pytest.fixture(scope="module")
def tiny():
    return synthetic_splits(n_train=64, n_test=16, image_size=32, seed=0)["Training"]


def _kwargs(name):
    return {"in_channels": 2} if name == "crossmodal" else {}


@pytest.mark.parametrize("name", METHODS)
def test_method_trains_and_changes_its_encoder(name, tiny, tmp_path):
    torch.manual_seed(0)
    model = get_method(name)(image_size=32)
    before = {k: v.detach().clone() for k, v in model.backbone.state_dict().items()}   # snapshot of this very model
    pretrain(model, tiny, tmp_path, epochs=1, batch_size=16, seed=0, progress=False)
    log = json.loads((tmp_path / "pretrain.json").read_text())
    assert log["method"] == name and log["epochs_done"] == 1
    loss = log["train_loss_last_epoch"]   # save_json writes NaN as null: a float is required, and a finite one
    assert isinstance(loss, float) and math.isfinite(loss), f"{name}: last-epoch loss is {loss!r}"
    assert (tmp_path / "checkpoints" / "last.ckpt").exists() and not list(tmp_path.rglob("*.tmp"))
    # the saved encoder is the trained one, and training moved it away from the weights it started from
    enc = load_encoder(tmp_path / "encoder.safetensors")
    X = embed(enc, tiny, progress=False)
    assert X.shape == (64, model.backbone.dim) and torch.isfinite(torch.from_numpy(X)).all()
    trained = model.backbone.state_dict()
    # gradient steps move the weights by about lr per step; weight decay alone (lr * 1e-4) and BatchNorm's running
    # statistics would not pass this: the median relative change of the conv/linear weights must exceed 1e-4
    rel = [((trained[k].cpu() - before[k].cpu()).norm() / before[k].cpu().norm()).item()
           for k in before if k.endswith("weight") and before[k].ndim > 1]
    assert sorted(rel)[len(rel) // 2] > 1e-4, f"{name}: the encoder's weights barely moved in training (median relative change {sorted(rel)[len(rel) // 2]:.1e})"
    for k, v in enc.state_dict().items():
        assert torch.equal(v.cpu(), trained[k].cpu()), f"{name}: saved encoder differs from the trained one at {k}"


@pytest.mark.parametrize("name", METHODS)
def test_method_overrides_only_what_differs(name):
    "Issue 13: the batch reaches ssl_loss, EMA targets move in the base's hook, hyper-parameters are saved once."
    cls = get_method(name)
    src = inspect.getsource(cls)
    assert "training_step" not in vars(cls), f"{name} overrides training_step"
    assert "update_momentum" not in src and "save_hyperparameters" not in src, f"{name} updates momentum or saves hparams itself"
    assert list(inspect.signature(cls.ssl_loss).parameters)[:3] == ["self", "x", "batch"]


@pytest.mark.parametrize("name", [n for n in METHODS if issubclass(get_method(n), MomentumSSLMethod)])
def test_evaluating_the_loss_never_moves_a_target(name):
    torch.manual_seed(0)
    m = get_method(name)(image_size=32)
    targets = [t for _, t in m.momentum_pairs]
    assert targets, f"{name} declares no momentum pairs"
    before = {t: [p.detach().clone() for p in getattr(m, t).parameters()] for t in targets}
    with torch.no_grad():
        for p in m.backbone.parameters(): p.add_(0.1)       # the online network has moved since the last EMA step
    m.ssl_loss(torch.rand(8, 1, 32, 32)).backward()
    for t in targets:
        assert all(torch.equal(a, b) for a, b in zip(before[t], getattr(m, t).parameters())), f"{name}.{t} moved in ssl_loss"
    m.on_train_batch_start(None, 0)                         # the hook moves them
    assert not all(torch.equal(a, b) for a, b in zip(before["backbone_momentum"], m.backbone_momentum.parameters()))


@pytest.mark.parametrize("name", METHODS)
def test_method_module_is_small(name):
    "Issue 3: a method module holds only what differs from the base, about 150 lines or less."
    path = ROOT / "brainssl" / "methods" / f"{name}.py"
    code = [l for l in path.read_text().splitlines() if l.strip() and not l.lstrip().startswith("#")]
    assert len(code) <= 160, f"{path.name} has {len(code)} non-blank, non-comment lines"


def test_cpu_time_budget_from_the_cli(tmp_path):
    out = tmp_path / "o"
    r = subprocess.run(brainssl_cmd() + ["pretrain", "--method", "rotation", "--out", str(out), "--epochs", "1000",
                                         "--max-minutes", "0.03", "--budget-clock", "cpu", "--batch-size", "32",
                                         "--image-size", "32", "--quiet"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    log = json.loads((out / "pretrain.json").read_text())
    assert log["budget"] == {"minutes": 0.03, "clock": "cpu", "used_minutes": log["budget"]["used_minutes"]}
    assert log["budget"]["used_minutes"] >= 0.03 and 1 <= log["epochs_done"] < 1000


def test_dino_with_a_vit(tiny, tmp_path):
    "Issue 18: pretrain('dino', arch=<timm ViT>) trains a ViT sized for the slices and saves it as an Encoder."
    model = pretrain("dino", tiny, tmp_path, epochs=1, batch_size=16, seed=0, progress=False, image_size=32,
                     arch="vit_tiny_patch16_224", out_dim=64, n_small_crops=1)
    enc = load_encoder(tmp_path / "encoder.safetensors")
    assert enc.is_vit and model.backbone_momentum.is_vit and enc.config["timm_kwargs"]["patch_size"] == 4
    assert embed(enc, tiny, progress=False).shape == (64, 192)


def test_mae_loss_reads_only_the_hidden_patches():
    "Issue 18: MAE's loss does not change when the visible patches of the target change, and does when a hidden one does."
    from lightly.models.utils import patchify
    from brainssl.methods.mae import masked_pixel_loss
    torch.manual_seed(0)
    m = get_method("mae")(image_size=32, depth=1, decoder_depth=1)
    assert m.random_init_encoder().is_vit
    x = torch.rand(4, 1, 32, 32)
    idx_keep, idx_mask = m.random_mask(4)
    assert idx_mask.shape == (4, 48) and idx_keep.shape == (4, 17)       # 75% of 64 patches hidden, CLS kept
    pred = m.predict_masked(x, idx_keep, idx_mask)
    patches = patchify(x, m.patch_size)
    loss = masked_pixel_loss(pred, patches, idx_mask - 1)
    seen = patches.clone(); seen[torch.arange(4)[:, None], idx_keep[:, 1:] - 1] = 9.0
    hidden = patches.clone(); hidden[torch.arange(4), idx_mask[:, 0] - 1] = 9.0
    assert torch.equal(masked_pixel_loss(pred, seen, idx_mask - 1), loss)
    assert masked_pixel_loss(pred, hidden, idx_mask - 1) > loss


def test_issue_18_methods_are_registered():
    "Issue 18: DINO, MAE and VICReg are listed (and so shown by `brainssl methods`, see test_cli_lists_every_method)."
    assert {"dino", "mae", "vicreg"} <= set(list_methods())
    assert list_methods()["mae"].startswith("Generative (MAE)")
