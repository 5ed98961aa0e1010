"""Which frozen features should the linear probe read? A check on the SimCLR encoder of bench/label_efficiency.py.

Compares, for the SimCLR and the random-init encoder, four feature read-outs at 10% labels (seeds 0-2): global-average
pooled layer4 (brainssl's `embed`, used in the benchmark), pooled layer3+layer4, flip test-time averaging, and the
flattened 2x2 layer4 map. Run after bench/label_efficiency.py (it reads its encoder and image cache):

    .venv/bin/python bench/probe_features.py

The choice between read-outs should be made on the cross-validated log-loss inside the labelled subset (printed as
`cv logloss`), never on the test accuracy printed beside it.
"""
import torch, numpy as np, json, warnings
warnings.filterwarnings("ignore")
from brainssl.cli import load_splits
from brainssl.encoder import load_encoder, Encoder
from brainssl.audit import audit, dedup_keep_mask
from brainssl.data import label_fraction_indices
from brainssl.evaluate import linear_probe
from sklearn.model_selection import cross_val_score, StratifiedKFold
sp = load_splits("../shared/data/brain-tumor-mri", image_size=64, cache_dir="bench/work/label_efficiency/cache", progress=False)
keep = dedup_keep_mask(audit(sp, progress=False))
tr, te = sp["Training"], sp["Testing"]
Xtr_img = tr.stack(progress=False).float()/255; Xte_img = te.stack(progress=False).float()/255
def feats(enc, X, mode):
    net = enc.net; enc.eval(); out=[]
    with torch.no_grad():
        for i in range(0, len(X), 512):
            x = X[i:i+512]
            def stages(x):
                x = net.maxpool(net.relu(net.bn1(net.conv1(x)))); x = net.layer1(x); x = net.layer2(x); l3 = net.layer3(x); l4 = net.layer4(l3); return l3, l4
            l3, l4 = stages(x)
            if mode == "gap": f = l4.mean((2,3))
            elif mode == "l3l4": f = torch.cat([l3.mean((2,3)), l4.mean((2,3))], 1)
            elif mode == "flip": f = (l4.mean((2,3)) + stages(torch.flip(x, [3]))[1].mean((2,3)))/2
            elif mode == "spatial": f = l4.flatten(1)
            out.append(f)
    return torch.cat(out).numpy()
ytr, yte = tr.labels, te.labels
for name, enc in [("simclr", load_encoder("bench/work/label_efficiency/simclr/encoder.safetensors")), ("random", Encoder(in_channels=1, seed=0))]:
    for mode in ["gap", "l3l4", "flip", "spatial"]:
        Ftr, Fte = feats(enc, Xtr_img, mode), feats(enc, Xte_img, mode)
        accs, cvs = [], []
        for seed in (0, 1, 2):
            idx = label_fraction_indices(ytr, 0.1, seed=seed)
            p, info = linear_probe(Ftr[idx], ytr[idx], Fte, seed=seed)
            accs.append((p.argmax(1) == yte)[keep].mean())
            cvs.append(min(info["cv_log_loss"].values()))
        print(name, mode, "dedup acc %.3f" % np.mean(accs), "cv logloss %.3f" % np.mean(cvs), flush=True)
