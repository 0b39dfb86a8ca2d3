"""Models as flat parameter vectors with batched forward passes over K independent models.

Each model is a list of named parameter shapes laid out in one flat float32 vector. A batch of K
models is a (K, P) tensor; ``forward(flat, x)`` with x of shape (K, B, ...) returns (K, B, classes)
logits using batched kernels (``bmm`` for dense layers, grouped ``conv2d`` with groups=K for
convolutions), so one autograd pass trains all K models at once. ``to_module`` gives the plain
``torch.nn`` model with the same parameters, which the sequential reference trains.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ModelSpec", "make_model"]


@dataclass(frozen=True)
class ModelSpec:
    """A model family: parameter layout, initialiser and batched forward."""

    kind: str
    input_shape: tuple[int, ...]
    num_classes: int
    hidden: int = 32
    # "grouped" conv2d, "im2col" + bmm, or "auto": grouped on CPU (faster there), im2col on CUDA
    # (grouped measured 47 ms at K = 1,000 on an H200; benchmarks/bench_fl_gpu.py times both)
    conv_impl: str = "auto"

    # ------------------------------------------------------------------ layout
    @functools.cached_property
    def shapes(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        # cached: the layout is read on every training step, and the fields are frozen
        d = math.prod(self.input_shape)
        c = self.num_classes
        if self.kind == "logreg":
            return (("w", (d, c)), ("b", (c,)))
        if self.kind == "mlp":
            h = self.hidden
            return (("w1", (d, h)), ("b1", (h,)), ("w2", (h, c)), ("b2", (c,)))
        ch, height, width = self._image_shape()
        flat = 16 * (height // 4) * (width // 4)
        return (
            ("c1w", (6, ch, 3, 3)),
            ("c1b", (6,)),
            ("c2w", (16, 6, 3, 3)),
            ("c2b", (16,)),
            ("f1w", (flat, 64)),
            ("f1b", (64,)),
            ("f2w", (64, c)),
            ("f2b", (c,)),
        )

    @functools.cached_property
    def _slices(self) -> tuple[tuple[str, int, int, tuple[int, ...]], ...]:
        """(name, start, end, shape) of each parameter in the flat vector."""
        out, offset = [], 0
        for name, shape in self.shapes:
            size = math.prod(shape)
            out.append((name, offset, offset + size, shape))
            offset += size
        return tuple(out)

    def _image_shape(self) -> tuple[int, int, int]:
        if len(self.input_shape) != 3 or self.input_shape[1] < 4 or self.input_shape[2] < 4:
            raise ValueError(
                f"fl.model='cnn' needs (C, H, W) images of at least 4x4, got shape {self.input_shape}"
            )
        c, h, w = self.input_shape
        return c, h, w

    @property
    def num_params(self) -> int:
        return sum(math.prod(s) for _, s in self.shapes)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of a (K, P) tensor as {name: (K, *shape)}, from one ``split`` call (the SGD loop
        asks for them every step)."""
        k = flat.shape[0]
        parts = flat.split([b - a for _, a, b, _ in self._slices], dim=1)
        return {
            name: t.view(k, *shape)
            for t, (name, _, _, shape) in zip(parts, self._slices, strict=True)
        }

    def init(self, generator: torch.Generator) -> torch.Tensor:
        """One model's parameters (P,), PyTorch's default fan-in uniform initialisation."""
        parts = []
        for name, shape in self.shapes:
            if name.endswith("b") and len(shape) == 1:
                fan_in = self._fan_in_of_bias(name)
            else:
                fan_in = math.prod(shape[1:]) if len(shape) == 4 else shape[0]
            bound = 1.0 / math.sqrt(fan_in)
            parts.append((torch.rand(math.prod(shape), generator=generator) * 2 - 1) * bound)
        return torch.cat(parts).float()

    def _fan_in_of_bias(self, name: str) -> int:
        shapes = dict(self.shapes)
        weight = {
            "b": "w",
            "b1": "w1",
            "b2": "w2",
            "c1b": "c1w",
            "c2b": "c2w",
            "f1b": "f1w",
            "f2b": "f2w",
        }[name]
        shape = shapes[weight]
        return math.prod(shape[1:]) if len(shape) == 4 else shape[0]

    # ------------------------------------------------------------------ forward
    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits (K, B, classes) of K models on x (K, B, *input_shape) or shared x (B, *input_shape)."""
        p = self.unflatten(flat)
        k = flat.shape[0]
        if self.kind in ("logreg", "mlp"):
            xs = (
                x.reshape(x.shape[0], x.shape[1], -1)
                if x.dim() == len(self.input_shape) + 2
                else x.reshape(1, x.shape[0], -1).expand(k, -1, -1)
            )
            if self.kind == "logreg":
                return torch.baddbmm(p["b"].unsqueeze(1), xs, p["w"])
            h = torch.relu(torch.baddbmm(p["b1"].unsqueeze(1), xs, p["w1"]))
            return torch.baddbmm(p["b2"].unsqueeze(1), h, p["w2"])
        return self._cnn_forward(p, x, k)

    @property
    def has_analytic_gradient(self) -> bool:
        return self.kind in ("logreg", "mlp")

    def loss_and_grad(
        self,
        flat: torch.Tensor,
        x: torch.Tensor,
        labels: torch.Tensor,
        one_hot: torch.Tensor,
        weight: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-vehicle weighted cross-entropy (K,) and its gradient (K, P), for dense models.

        Args:
            flat: (K, P) parameters.
            x: (K, B, *input_shape) inputs.
            labels: (K, B, 1) label indices; ``one_hot``: the same as (K, B, classes) rows.
            weight: (K, B, 1) sample weights, summing to 1 over each vehicle's real samples
                (0 for padding): the masked mean.

        The backward pass is written out (a few ``bmm``) instead of going through autograd, whose
        per-call overhead dominates for these small models, and the label tensors and weights come
        from the caller, which builds them for every SGD step at once (a step's cost here is its
        number of torch calls, not their arithmetic); the equivalence tests compare the training
        with ``torch.optim.SGD`` on ``nn.Module`` twins.
        """
        k, b = x.shape[0], x.shape[1]
        xs = x.reshape(k, b, -1)
        p = self.unflatten(flat)
        if self.kind == "logreg":
            logits = torch.baddbmm(p["b"].unsqueeze(1), xs, p["w"])
        else:
            pre = torch.baddbmm(p["b1"].unsqueeze(1), xs, p["w1"])
            hidden = torch.relu(pre)
            logits = torch.baddbmm(p["b2"].unsqueeze(1), hidden, p["w2"])
        log_prob = torch.log_softmax(logits, dim=2)
        loss = -(log_prob.gather(2, labels) * weight).sum(dim=(1, 2))
        # softmax minus the one-hot label: the gradient of the cross-entropy in the logits
        d_logits = (log_prob.exp() - one_hot) * weight
        if self.kind == "logreg":
            grads = [torch.bmm(xs.transpose(1, 2), d_logits), d_logits.sum(dim=1)]
        else:
            d_hidden = torch.bmm(d_logits, p["w2"].transpose(1, 2)) * (pre > 0)
            grads = [
                torch.bmm(xs.transpose(1, 2), d_hidden),
                d_hidden.sum(dim=1),
                torch.bmm(hidden.transpose(1, 2), d_logits),
                d_logits.sum(dim=1),
            ]
        return loss, torch.cat([g.reshape(k, -1) for g in grads], dim=1)

    def _cnn_forward(self, p: dict[str, torch.Tensor], x: torch.Tensor, k: int) -> torch.Tensor:
        impl = (
            self.conv_impl if self.conv_impl != "auto" else ("im2col" if x.is_cuda else "grouped")
        )
        if impl == "grouped":
            return self._cnn_forward_grouped(p, x, k)
        return self._cnn_forward_im2col(p, x, k)

    def _cnn_forward_grouped(
        self, p: dict[str, torch.Tensor], x: torch.Tensor, k: int
    ) -> torch.Tensor:
        """K models as the groups of one grouped ``conv2d`` (input (B, K*C, H, W))."""
        c, h, w = self._image_shape()
        if x.dim() == 5:
            b = x.shape[1]
            z = x.permute(1, 0, 2, 3, 4).reshape(b, k * c, h, w)
        else:
            b = x.shape[0]
            z = x.repeat(1, k, 1, 1)
        z = F.conv2d(z, p["c1w"].reshape(k * 6, c, 3, 3), p["c1b"].reshape(-1), padding=1, groups=k)
        z = F.max_pool2d(torch.relu(z), 2)
        z = F.conv2d(
            z, p["c2w"].reshape(k * 16, 6, 3, 3), p["c2b"].reshape(-1), padding=1, groups=k
        )
        z = F.max_pool2d(torch.relu(z), 2)
        z = z.reshape(b, k, -1).transpose(0, 1)  # (K, B, flat)
        z = torch.relu(torch.baddbmm(p["f1b"].unsqueeze(1), z, p["f1w"]))
        return torch.baddbmm(p["f2b"].unsqueeze(1), z, p["f2w"])

    def _cnn_forward_im2col(
        self, p: dict[str, torch.Tensor], x: torch.Tensor, k: int
    ) -> torch.Tensor:
        """LeNet-style forward of K models, each 3x3 convolution as im2col + one batched matmul.

        Grouped ``conv2d`` with groups=K is a poor fit for K in the thousands and a handful of
        channels; unfolding the 3x3 patches once and multiplying by the K stacked kernels with
        ``bmm`` (or one broadcast ``matmul`` when all models see the same input) is not.
        """
        c, h, w = self._image_shape()
        shared = x.dim() == 4
        z = x if shared else x.reshape(-1, c, h, w)  # (B or K*B, C, H, W)
        z = self._conv3x3(z, p["c1w"], p["c1b"], k, shared)  # (K*B, 6, H, W)
        z = F.max_pool2d(torch.relu(z), 2)
        z = self._conv3x3(z, p["c2w"], p["c2b"], k, False)
        z = F.max_pool2d(torch.relu(z), 2)
        z = z.reshape(k, -1, z[0].numel())  # (K, B, 16 * H/4 * W/4), C-H-W order
        z = torch.relu(torch.baddbmm(p["f1b"].unsqueeze(1), z, p["f1w"]))
        return torch.baddbmm(p["f2b"].unsqueeze(1), z, p["f2w"])

    @staticmethod
    def _conv3x3(
        z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, k: int, shared: bool
    ) -> torch.Tensor:
        """3x3 'same' convolution of K models: z (K*B or shared B, C, H, W) -> (K*B, O, H, W)."""
        n, c, h, w = z.shape
        out = weight.shape[1]
        kernels = weight.reshape(k, out, c * 9).transpose(1, 2)  # (K, C*9, O)
        patches = F.unfold(z, 3, padding=1).transpose(1, 2)  # (N, H*W, C*9)
        if shared:  # the same B inputs for every model: one broadcast matmul
            y = torch.matmul(patches.reshape(1, n * h * w, c * 9), kernels)
            b = n
        else:
            b = n // k
            y = torch.bmm(patches.reshape(k, b * h * w, c * 9), kernels)
        y = y + bias.unsqueeze(1)  # (K, B*H*W, O)
        return y.reshape(k * b, h, w, out).permute(0, 3, 1, 2)

    # ------------------------------------------------------------------ reference
    def to_module(self, flat: torch.Tensor) -> nn.Module:
        """A plain ``torch.nn`` model holding one model's parameters (P,)."""
        p = {name: t[0] for name, t in self.unflatten(flat.detach().reshape(1, -1).clone()).items()}
        if self.kind == "logreg":
            m: Any = nn.Sequential(nn.Flatten(), nn.Linear(*p["w"].shape))
            _load_linear(m[1], p["w"], p["b"])
        elif self.kind == "mlp":
            m = nn.Sequential(
                nn.Flatten(), nn.Linear(*p["w1"].shape), nn.ReLU(), nn.Linear(*p["w2"].shape)
            )
            _load_linear(m[1], p["w1"], p["b1"])
            _load_linear(m[3], p["w2"], p["b2"])
        else:
            c, _, _ = self._image_shape()
            m = nn.Sequential(
                nn.Conv2d(c, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(*p["f1w"].shape), nn.ReLU(), nn.Linear(*p["f2w"].shape),
            )  # fmt: skip
            with torch.no_grad():
                m[0].weight.copy_(p["c1w"])
                m[0].bias.copy_(p["c1b"])
                m[3].weight.copy_(p["c2w"])
                m[3].bias.copy_(p["c2b"])
            _load_linear(m[7], p["f1w"], p["f1b"])
            _load_linear(m[9], p["f2w"], p["f2b"])
        return m

    def from_module(self, module: nn.Module) -> torch.Tensor:
        """Flatten a module built by :meth:`to_module` back to (P,)."""
        tensors = []
        for layer in module.children():
            bias: Any = getattr(layer, "bias", None)
            if isinstance(layer, nn.Linear):
                tensors += [layer.weight.detach().t().reshape(-1), bias.detach().reshape(-1)]
            elif isinstance(layer, nn.Conv2d):
                tensors += [layer.weight.detach().reshape(-1), bias.detach().reshape(-1)]
        return torch.cat(tensors)


def _load_linear(layer: nn.Linear, w_in_out: torch.Tensor, b: torch.Tensor) -> None:
    with torch.no_grad():
        layer.weight.copy_(w_in_out.t())
        layer.bias.copy_(b)


def make_model(
    kind: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden: int = 32,
    conv_impl: str = "auto",
) -> ModelSpec:
    if kind not in ("logreg", "mlp", "cnn"):
        raise ValueError(
            f"fl.model={kind!r} is not allowed: choose one of ['logreg', 'mlp', 'cnn']"
        )
    if conv_impl not in ("auto", "grouped", "im2col"):
        raise ValueError(
            f"conv_impl={conv_impl!r} is not allowed: choose one of ['auto', 'grouped', 'im2col']"
        )
    spec = ModelSpec(kind, tuple(input_shape), num_classes, hidden, conv_impl)
    _ = spec.shapes  # validates the input shape for the CNN
    return spec
