#!/usr/bin/env python3
"""A plain PyTorch Neural Cleanse: the reference `npm run bench` times the gate against (issue 23).

    python3 bench/neural-cleanse.py <model.onnx> <gate.json> <images.npy (N,1,H,W) in [0,1]> [epochs]

Neural Cleanse as its authors' visualizer runs it (Wang et al., IEEE S&P 2019, bolunwang/backdoor,
the GTSRB example's settings; see shared/docs/algorithms.md section 6): per class a tanh-
parametrised mask and pattern, CE + lambda * |m|_1, Adam (0.1, betas 0.5/0.9), minibatches of 32,
lambda from 1e-3 once ASR >= 0.99, x2 / x2^-1.5 after 5 epochs above / below, the smallest mask
that reaches 99 % kept; a label whose mask L1 is below the median with MAD anomaly index > 2 is
flagged. Early stopping (25 epochs' patience) never triggers within the 20 epochs timed.

The PyTorch model is the ONNX export itself, run op by op in torch (the fixtures' few ops: the
CNN's and the ResNet's), so both tools scan the very same weights. Prints one JSON line.
"""
import json
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

torch.set_num_threads(2)
torch.manual_seed(0)
np.random.seed(0)


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def pads2d(p):
    # ONNX pads are [top, left, bottom, right]; torch wants symmetric ones here.
    assert p[0] == p[2] and p[1] == p[3], "asymmetric padding"
    return (p[0], p[1])


class OnnxModule(torch.nn.Module):
    """The ONNX graph, evaluated with torch ops (enough for the bench's conv and MLP exports)."""

    def __init__(self, path):
        super().__init__()
        self.graph = onnx.load(path).graph
        self.consts = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in self.graph.initializer}
        self.input = self.graph.input[0].name

    def forward(self, x):
        v = dict(self.consts)
        v[self.input] = x
        for n in self.graph.node:
            a = attrs(n)
            i = [v[name] if name else None for name in n.input]
            op = n.op_type
            if op == "Conv":
                y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, stride=tuple(a.get("strides", [1, 1])), padding=pads2d(a.get("pads", [0, 0, 0, 0])), groups=a.get("group", 1))
            elif op == "Relu":
                y = F.relu(i[0])
            elif op == "MaxPool":
                y = F.max_pool2d(i[0], tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"])), pads2d(a.get("pads", [0, 0, 0, 0])))
            elif op == "AveragePool":
                y = F.avg_pool2d(i[0], tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"])), pads2d(a.get("pads", [0, 0, 0, 0])), count_include_pad=bool(a.get("count_include_pad", 0)))
            elif op == "Pad":
                p = i[1].tolist()  # [x1_begin, x2_begin, ..., x1_end, x2_end, ...]
                half = len(p) // 2
                value = float(i[2]) if len(i) > 2 and i[2] is not None else 0.0
                y = F.pad(i[0], [q for d in reversed(range(half)) for q in (p[d], p[d + half])], mode=a.get("mode", b"constant").decode(), value=value)
            elif op == "BatchNormalization":
                y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5))
            elif op == "GlobalAveragePool":
                y = i[0].mean(dim=(2, 3), keepdim=True)
            elif op == "Flatten":
                y = torch.flatten(i[0], a.get("axis", 1))
            elif op == "Gemm":
                w = i[1].t() if a.get("transB", 0) else i[1]
                y = i[0] @ w * a.get("alpha", 1.0) + (i[2] * a.get("beta", 1.0) if len(i) > 2 else 0)
            elif op == "MatMul":
                y = i[0] @ i[1]
            elif op in ("Add", "Sub", "Mul", "Div"):
                y = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[op](i[0], i[1])
            elif op == "Shape":
                y = torch.tensor(i[0].shape, dtype=torch.int64)
            elif op == "Gather":
                y = torch.index_select(i[0], a.get("axis", 0), i[1].reshape(-1)).reshape(i[1].shape) if i[0].dim() == 1 else torch.gather(i[0], a.get("axis", 0), i[1])
            elif op == "Unsqueeze":
                axes = a["axes"] if "axes" in a else i[1].tolist()
                y = i[0]
                for ax in sorted(axes):
                    y = y.unsqueeze(ax)
            elif op == "Concat":
                y = torch.cat(i, a["axis"])
            elif op == "Reshape":
                y = i[0].reshape([int(s) if s != 0 else i[0].shape[k] for k, s in enumerate(i[1].tolist())])
            elif op == "Constant":
                y = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
            else:
                raise SystemExit(f"neural-cleanse.py: ONNX op {op} is not supported by this reference")
            v[n.output[0]] = y
        return v[self.graph.output[0].name]


def neural_cleanse(model, x, mean, std, num_classes, epochs, batch=32):
    eps = 1e-7
    _, c, h, w = x.shape
    l1s = []
    for target in range(num_classes):
        mask_t = torch.atanh((torch.rand(1, 1, h, w) - 0.5) * (2 - eps)).requires_grad_()
        pattern_t = torch.atanh((torch.rand(1, c, h, w) - 0.5) * (2 - eps)).requires_grad_()
        opt = torch.optim.Adam([mask_t, pattern_t], lr=0.1, betas=(0.5, 0.9))
        cost, cost_set = 0.0, False
        up, down = 0, 0
        best = float("inf")
        y = torch.full((batch,), target, dtype=torch.int64)
        for _ in range(epochs):
            hits, seen = 0, 0
            for s in range(0, len(x), batch):
                xb = x[s : s + batch]
                mask = torch.tanh(mask_t) / (2 - eps) + 0.5
                pattern = torch.tanh(pattern_t) / (2 - eps) + 0.5
                adv = (1 - mask) * xb + mask * pattern
                logits = model((adv - mean) / std)
                l1 = mask.abs().sum() / c
                loss = F.cross_entropy(logits, y[: len(xb)]) + cost * l1
                opt.zero_grad()
                loss.backward()
                opt.step()
                hits += (logits.argmax(1) == target).sum().item()
                seen += len(xb)
            asr = hits / seen
            with torch.no_grad():
                l1_now = ((torch.tanh(mask_t) / (2 - eps) + 0.5).abs().sum() / c).item()
            if asr >= 0.99 and l1_now < best:
                best = l1_now
            # The visualizer's cost schedule, checked once per epoch (its "step").
            if not cost_set:
                if asr >= 0.99:
                    cost, cost_set = 1e-3, True
                continue
            up, down = (up + 1, 0) if asr >= 0.99 else (0, down + 1)
            if up >= 5:
                cost, up = cost * 2, 0
            elif down >= 5:
                cost, down = cost / 2**1.5, 0
        l1s.append(best if np.isfinite(best) else l1_now)
    l1s = np.array(l1s)
    med = np.median(l1s)
    mad = 1.4826 * np.median(np.abs(l1s - med))
    target = int(np.argmin(l1s))
    anomaly = abs(l1s[target] - med) / max(mad, 1e-12)
    return l1s, target, anomaly


def main():
    model_path, gate_path, images_path = sys.argv[1:4]
    epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    gate = json.load(open(gate_path))["input"]
    mean = torch.tensor(gate.get("mean", [0.0]), dtype=torch.float32).reshape(1, -1, 1, 1)
    std = torch.tensor(gate.get("std", [1.0]), dtype=torch.float32).reshape(1, -1, 1, 1)
    x = torch.from_numpy(np.load(images_path).astype(np.float32))
    model = OnnxModule(model_path).eval()
    for p in model.consts.values():
        p.requires_grad_(False)
    with torch.no_grad():
        num_classes = model((x[:2] - mean) / std).shape[1]
    t0 = time.time()
    l1s, target, anomaly = neural_cleanse(model, x, mean, std, num_classes, epochs)
    seconds = time.time() - t0
    flagged = bool(anomaly > 2 and l1s[target] < np.median(l1s))
    print(json.dumps({"seconds": seconds, "epochs": epochs, "images": len(x), "threads": torch.get_num_threads(), "l1": l1s.round(3).tolist(), "target": target, "anomalyIndex": float(anomaly), "flagged": flagged, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
