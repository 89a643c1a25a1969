"""The AMAGO-2 network, top to bottom.

    tokens ──► TimestepEncoder ──► trajectory encoder ──► h ──► ActorHead   (one policy per gamma)
    (obs, prev action,   (B, L, T)    (Transformer | GRU | FF)  (B, L, D)  └─► critics (C critics, one
     prev reward, time)                                                        output per action and gamma)

The critics come in three heads (``ModelConfig.critic_head``): CriticEnsemble, where the action
enters the second hidden layer (the paper's AMAGO-2 critic, any action space), and
PerActionCritics, where the last layer has one output block per discrete action (AMAGO-1's
critic shape; the default for discrete actions, see reports/fidelity/), and ActionFirstCritics,
where the action enters the first hidden layer beside h (the reference AMAGO's continuous critic).

Shapes: B sequences, L tokens per sequence, N parallel envs when acting, D = d_model,
T = tstep_dim, G gammas, A action dim (number of actions when discrete), C critics,
K actions evaluated per token, O critic outputs (B bins for the Ind. critic, 1 for Dep.).

Acting uses :meth:`AmagoModel.step`, one token per env, with a per-env key/value cache
(Transformer), hidden state (GRU) or nothing (FF); ``reset`` clears chosen envs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from amago_bench.agents.amago2.config import ConfigError, ModelConfig
# What the model is told about the suite, and the timestep encoder, are shared with the other agents.
from amago_bench.agents.shapes import ObsPart, Shapes, shapes_from_spaces
from amago_bench.agents.timestep import TimestepEncoder, symexp, symlog

__all__ = ["ObsPart", "Shapes", "shapes_from_spaces", "inverse_cdf", "TimestepEncoder", "symexp", "symlog", "SigmaLinear", "KVCache",
           "TransformerBlock", "TransformerEncoder", "GRUEncoder", "FFEncoder", "ActorHead", "EnsembleLinear",
           "LEAKY_SLOPE", "CriticEnsemble", "PerActionCritics", "ActionFirstCritics", "critic_head_kind", "AmagoModel", "sample_actions",
           "rsample_actions", "log_prob"]


# ---------------------------------------------------------------------------------------
# Trajectory encoders


class SigmaLinear(nn.Linear):
    """sigma-reparam linear (Zhai et al. 2023): W_hat = gamma / sigma_max(W) * W.

    sigma_max is tracked by one power-iteration step per training forward. In eval mode
    without autograd the effective weight is cached until the parameters change.
    """

    def __init__(self, d_in: int, d_out: int, enabled: bool = True) -> None:
        super().__init__(d_in, d_out)
        self.enabled = enabled
        if enabled:
            u = torch.randn(d_out)
            self.register_buffer("u", u / u.norm())
            with torch.no_grad():
                sigma = torch.linalg.matrix_norm(self.weight, ord=2)
            self.gamma = nn.Parameter(sigma.reshape(()).clone())
        self._cache: tuple[tuple[int, ...], torch.Tensor] | None = None

    def effective_weight(self) -> torch.Tensor:
        if not self.enabled:
            return self.weight
        with torch.autocast(self.weight.device.type, enabled=False):  # sigma in full precision under mixed precision
            return self._effective_weight()

    def _effective_weight(self) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                v = F.normalize(self.weight.t() @ self.u, dim=0)
                self.u.copy_(F.normalize(self.weight @ v, dim=0))
        else:
            v = F.normalize(self.weight.t() @ self.u, dim=0).detach()
        sigma = torch.dot(self.u, self.weight @ v)
        return self.weight * (self.gamma / sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and not torch.is_grad_enabled():
            key = (self.weight._version, self.gamma._version if self.enabled else 0, self.weight.data_ptr())
            if self._cache is None or self._cache[0] != key:
                self._cache = (key, self.effective_weight())
            return F.linear(x, self._cache[1], self.bias)
        self._cache = None
        return F.linear(x, self.effective_weight(), self.bias)


class KVCache:
    """Per-env keys/values of every layer: k, v (layers, N, H, Lmax, dh); lengths (N,); the inputs
    (N, Lmax, T) are kept so a full cache can be re-encoded from its newer half."""

    def __init__(self, layers: int, n: int, heads: int, lmax: int, dh: int, d_in: int, device, dtype) -> None:
        self.k = torch.zeros(layers, n, heads, lmax, dh, device=device, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.x = torch.zeros(n, lmax, d_in, device=device, dtype=dtype)
        self.len = torch.zeros(n, dtype=torch.long, device=device)


class TransformerBlock(nn.Module):
    """Pre-norm block with NormFormer-style extra norms (after attention, inside the FF)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        D, s = cfg.d_model, cfg.sigma_reparam
        self.heads = cfg.heads
        self.norm_attn_in, self.norm_attn_out = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = SigmaLinear(D, 3 * D, s), SigmaLinear(D, D, s)
        self.norm_ff_in, self.norm_ff_mid = nn.LayerNorm(D), nn.LayerNorm(cfg.d_ff)
        self.ff1, self.ff2 = SigmaLinear(D, cfg.d_ff, s), SigmaLinear(cfg.d_ff, D, s)
        self.drop = nn.Dropout(cfg.dropout)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, L, _ = x.shape
        q, k, v = self.qkv(self.norm_attn_in(x)).reshape(B, L, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        return q, k, v  # each (B, H, L, dh)

    def _finish(self, x: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        B, H, L, dh = att.shape
        att = att.transpose(1, 2).reshape(B, L, H * dh)
        x = x + self.norm_attn_out(self.proj(att))
        ff = self.ff2(self.norm_ff_mid(F.leaky_relu(self.ff1(self.norm_ff_in(x)))))
        return x + self.drop(ff)  # the block's only dropout, on the feed-forward output (as the reference)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, L, D) -> (B, L, D), plus this layer's k, v (B, H, L, dh)."""
        q, k, v = self._split(x)
        # no dropout on the attention weights (the reference's dropout_attn = 0): it would force the
        # unfused attention path and draw a (B, H, L, L) mask per layer
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self._finish(x, att), k, v

    def step(self, x: torch.Tensor, cache: KVCache, layer: int, span: int) -> torch.Tensor:
        """x (N, 1, D): one new token per env, written at position cache.len; attends to <= len."""
        q, k, v = self._split(x)  # (N, H, 1, dh)
        n = torch.arange(x.shape[0], device=x.device)
        cache.k[layer, n, :, cache.len] = k[:, :, 0].to(cache.k.dtype)
        cache.v[layer, n, :, cache.len] = v[:, :, 0].to(cache.v.dtype)
        keys, vals = cache.k[layer, :, :, :span], cache.v[layer, :, :, :span]
        mask = (torch.arange(span, device=x.device)[None, :] <= cache.len[:, None])[:, None, None, :]  # (N, 1, 1, span)
        # one query per env: plain matmuls beat the fused kernel here
        scores = (q @ keys.transpose(-1, -2)) * (q.shape[-1] ** -0.5)  # (N, H, 1, span)
        att = scores.masked_fill(~mask, float("-inf")).softmax(-1).to(vals.dtype) @ vals  # (N, H, 1, dh)
        return self._finish(x, att)


class TransformerEncoder(nn.Module):
    """Causal Transformer over (B, L, T) tokens -> (B, L, D). Positions are indices in the window."""

    def __init__(self, d_in: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(d_in, cfg.d_model)
        if cfg.positions == "learned":
            self.pos = nn.Parameter(torch.randn(cfg.context, cfg.d_model))  # N(0, 1): the token's scale
        else:
            pos = torch.arange(cfg.context)[:, None]
            div = torch.exp(torch.arange(0, cfg.d_model, 2) * (-math.log(10000.0) / cfg.d_model))
            table = torch.zeros(cfg.context, cfg.d_model)
            table[:, 0::2], table[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
            self.register_buffer("pos", table)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, return_kv: bool = False):
        B, L, _ = x.shape
        if L > self.cfg.context:
            raise ValueError(f"sequence of {L} tokens exceeds the model context {self.cfg.context}")
        x = self.drop(self.inp(x) + self.pos[:L])
        kvs = []
        for blk in self.blocks:
            x, k, v = blk(x)
            kvs.append((k, v))
        out = self.norm(x)
        return (out, kvs) if return_kv else out

    # -- acting -----------------------------------------------------------------------------

    def init_state(self, n: int, device, dtype=torch.float32) -> KVCache:
        c = self.cfg
        return KVCache(c.layers, n, c.heads, c.context, c.d_model // c.heads, self.inp.in_features, device, dtype)

    def reset(self, state: KVCache, mask: torch.Tensor) -> KVCache:
        state.len[mask] = 0
        return state

    def _reencode(self, state: KVCache, rows: torch.Tensor) -> None:
        """Full caches keep their newer half: re-encode those tokens at positions 0..keep-1.
        Amortised over keep steps this costs O(context) per step, like the attention itself."""
        keep = self.cfg.context // 2
        x = state.x[rows, self.cfg.context - keep:].clone()  # (R, keep, T)
        _, kvs = self.forward(x, return_kv=True)
        for i, (k, v) in enumerate(kvs):
            state.k[i, rows, :, :keep] = k.to(state.k.dtype)
            state.v[i, rows, :, :keep] = v.to(state.v.dtype)
        state.x[rows, :keep] = x
        state.len[rows] = keep

    def step(self, x: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        """x (N, T) -> h (N, D); one token per env appended to its cache."""
        full = torch.nonzero(state.len >= self.cfg.context).flatten()
        if len(full):
            self._reencode(state, full)
        n = torch.arange(x.shape[0], device=x.device)
        state.x[n, state.len] = x.to(state.x.dtype)  # (under autocast x may be bf16; the cache keeps its dtype)
        span = int(state.len.max().item()) + 1
        h = self.inp(x)[:, None] + self.pos[state.len][:, None]  # (N, 1, D)
        for i, blk in enumerate(self.blocks):
            h = blk.step(h, state, i, span)
        state.len += 1
        return self.norm(h[:, 0]), state


class GRUEncoder(nn.Module):
    """RL^2-style recurrent alternative: (B, L, T) -> (B, L, D), state (layers, N, D)."""

    def __init__(self, d_in: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.gru = nn.GRU(d_in, cfg.d_model, num_layers=cfg.layers, batch_first=True)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.layers, self.d = cfg.layers, cfg.d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.gru(x)[0])

    def init_state(self, n: int, device, dtype=torch.float32) -> torch.Tensor:
        return torch.zeros(self.layers, n, self.d, device=device, dtype=dtype)

    def reset(self, state: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        state[:, mask] = 0
        return state

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, state = self.gru(x[:, None], state)
        return self.norm(out[:, 0]), state


class FFEncoder(nn.Module):
    """No memory: an MLP on each token alone."""

    def __init__(self, d_in: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, cfg.d_model), nn.LeakyReLU(), nn.Linear(cfg.d_model, cfg.d_model),
                                 nn.LayerNorm(cfg.d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def init_state(self, n: int, device, dtype=torch.float32) -> None:
        return None

    def reset(self, state: None, mask: torch.Tensor) -> None:
        return None

    def step(self, x: torch.Tensor, state: None) -> tuple[torch.Tensor, None]:
        return self.net(x), None


# ---------------------------------------------------------------------------------------
# Heads


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden), nn.LeakyReLU(),
                         nn.Linear(hidden, d_out))


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
"""Bounds of the continuous policy's log std (pre-squash), as the reference AMAGO's TanhGaussian."""


def log_std_of(params: torch.Tensor) -> torch.Tensor:
    """The log std of continuous policy parameters (..., A, 2), within the bounds."""
    return params[..., 1].clamp(LOG_STD_MIN, LOG_STD_MAX)


class ActorHead(nn.Module):
    """h (..., D) -> per-gamma policy parameters: logits (..., G, A) when discrete, else
    (..., G, A, 2) = (mean, log std) of a tanh-squashed Gaussian in [-1, 1]. The log std is the
    raw output (clamped to the bounds where used) or, with ``actor_std = "tanh"``, the raw output
    mapped smoothly into the bounds."""

    def __init__(self, d: int, shapes: Shapes, cfg: ModelConfig) -> None:
        super().__init__()
        self.G, self.A, self.discrete = len(cfg.gammas), shapes.action_dim, shapes.discrete
        self.smooth_std = cfg.actor_std == "tanh"
        self.net = _mlp(d, cfg.head_hidden, self.G * self.A * (1 if self.discrete else 2))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.net(h)
        if self.discrete:
            return out.reshape(*h.shape[:-1], self.G, self.A)
        out = out.reshape(*h.shape[:-1], self.G, self.A, 2)
        if self.smooth_std:
            mean, raw = out.unbind(-1)
            out = torch.stack([mean, LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(raw) + 1)], -1)
        return out


class EnsembleLinear(nn.Module):
    """C independent linear layers applied at once: (C, M, d_in) -> (C, M, d_out)."""

    def __init__(self, c: int, d_in: int, d_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(c, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(c, 1, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        w, b = (self.weight, self.bias) if idx is None else (self.weight[idx], self.bias[idx])
        return torch.baddbmm(b, x, w)


LEAKY_SLOPE = 0.01  # F.leaky_relu's default, used by every critic hidden layer
_CHUNK_ELEMS = 1 << 20  # hidden activations per chunk of the critic heads (4 MiB of floats; 2^18..2^21 measured equal)


def _chunk_rows(m: int, per_row: int) -> int:
    """Rows of a (rows, per_row) workload per chunk so one chunk holds about _CHUNK_ELEMS values."""
    return max(1, min(m, _CHUNK_ELEMS // max(1, per_row)))


class _SharedActionHead(torch.autograd.Function):
    """The critics' last two layers for actions shared by every gamma (the replay action):

        q[c, m, g] = W_out[c]^T leaky_relu((a_term[c, m] + g_term[c, g]) + z[c, m]) + b_out[c]

    z (C, M, H) = second-layer pre-activation from h; a_term (C, M, H) = the action's rows;
    g_term (C, G, H) = the horizon rows; weight (C, H, O); bias (C, 1, O).
    (The sums are taken in the same order as :meth:`CriticEnsemble.head`, so both agree bitwise.)

    Without ``target``: returns q (C, M, G, O). With two-hot ``target`` (M, G, O) and ``decode``
    (logits (..., O) -> values (...)): returns the cross-entropy -target . log_softmax(q) (C, M, G)
    and, without gradient, decode(q) (C, M, G); q itself is never stored. (decode is the very
    function the loss applies to the sampled actions, so tied actions give bitwise-equal values.)

    Computed in chunks of rows, and the (C, M, G, H) hidden activations are recomputed in the
    backward pass instead of being stored: the same arithmetic as the plain autograd graph, but
    each chunk stays in cache (the plain graph wrote and re-read ~90 MB tensors several times).
    """

    @staticmethod
    def forward(ctx, z, a_term, g_term, weight, bias, target=None, decode=None):  # type: ignore[override]
        # In the parameters' precision, also under mixed precision, where z arrives in bf16 (the
        # backward below runs outside autocast; autograd casts input gradients to the inputs' dtypes).
        dt = weight.dtype
        with torch.autocast(z.device.type, enabled=False):
            return _SharedActionHead._forward(ctx, z.to(dt), a_term.to(dt), g_term.to(dt), weight, bias.to(dt),
                                              None if target is None else target.to(dt), decode)

    @staticmethod
    def _forward(ctx, z, a_term, g_term, weight, bias, target, decode):
        C, M, H = z.shape
        G, O = g_term.shape[1], weight.shape[-1]
        twohot = target is not None
        if twohot:
            ce, values = z.new_empty(C, M, G), z.new_empty(C, M, G)
            probs = z.new_empty(C, M, G, O)
        else:
            out = z.new_empty(C, M, G, O)
        step = _chunk_rows(M, C * G * H)
        for s in range(0, M, step):
            e = min(M, s + step)
            u = F.leaky_relu_(_pre(z, a_term, g_term, s, e), LEAKY_SLOPE)  # (C, m, G, H)
            q = torch.baddbmm(bias, u.reshape(C, -1, H), weight).reshape(C, e - s, G, O)
            if not twohot:
                out[:, s:e] = q
                continue
            ce[:, s:e] = -(target[None, s:e] * q.log_softmax(-1)).sum(-1)
            probs[:, s:e] = q.softmax(-1)
            values[:, s:e] = decode(q)
        ctx.twohot = twohot
        if twohot:
            ctx.mark_non_differentiable(values)
            ctx.save_for_backward(z, a_term, g_term, weight, bias, target, probs)
            return ce, values
        ctx.save_for_backward(z, a_term, g_term, weight, bias)
        return out

    @staticmethod
    def backward(ctx, grad_out, grad_values=None):  # type: ignore[override]
        if ctx.twohot:
            z, a_term, g_term, weight, bias, target, probs = ctx.saved_tensors
            target_sum = target.sum(-1, keepdim=True)
        else:
            z, a_term, g_term, weight, bias = ctx.saved_tensors
        C, M, H = z.shape
        G, O = g_term.shape[1], weight.shape[-1]
        grad_out = grad_out.contiguous()
        need_z, need_a, need_g, need_weight, need_bias = ctx.needs_input_grad[:5]
        need_w = need_z or need_a
        grad_w = torch.empty_like(z) if need_w else None
        grad_g = torch.zeros_like(g_term) if need_g else None
        grad_weight = torch.zeros_like(weight) if need_weight else None
        grad_bias = torch.zeros_like(bias) if need_bias else None
        w_t = weight.transpose(1, 2)
        step = _chunk_rows(M, C * G * H)
        for s in range(0, M, step):
            e = min(M, s + step)
            if ctx.twohot:  # d(-t . log_softmax q)/dq = softmax(q) * sum(t) - t
                gq = (probs[:, s:e] * target_sum[None, s:e] - target[None, s:e]).mul_(grad_out[:, s:e, :, None])
                gq = gq.reshape(C, -1, O)
            else:
                gq = grad_out[:, s:e].reshape(C, -1, O)
            pre = _pre(z, a_term, g_term, s, e)  # (C, m, G, H)
            if need_bias:
                grad_bias += gq.sum(1, keepdim=True)
            if need_weight:
                u = F.leaky_relu(pre, LEAKY_SLOPE)
                grad_weight.baddbmm_(u.reshape(C, -1, H).transpose(1, 2), gq)
            if need_w or need_g:
                gu = torch.bmm(gq, w_t).reshape(C, e - s, G, H)
                gpre = torch.ops.aten.leaky_relu_backward(gu, pre, LEAKY_SLOPE, False)
                if need_w:
                    torch.sum(gpre, 2, out=grad_w[:, s:e])
                if need_g:
                    grad_g += gpre.sum(1)
        # z and a_term enter the same sum: both get its gradient
        return (grad_w if need_z else None), (grad_w if need_a else None), grad_g, grad_weight, grad_bias, None, None


def _pre(z: torch.Tensor, a_term: torch.Tensor, g_term: torch.Tensor, s: int, e: int) -> torch.Tensor:
    """Rows s:e of the hidden pre-activations (a_term + g_term) + z: (C, e - s, G, H)."""
    return (a_term[:, s:e, None, :] + g_term[:, None]).add_(z[:, s:e, None, :])


class CriticEnsemble(nn.Module):
    """C critics Q_c(h, a, gamma): h enters the first layer; the action (one-hot if discrete) and
    the horizon feature symlog(1 / (1 - gamma)) are concatenated to the input of the second
    layer (written as a sum of linear terms, so the first layer runs once per token, not once
    per (token, action, gamma)).

    forward(h (B, L, D), actions (B, L, K, G) long or (B, L, K, G, A)) -> (C, B, L, K, G, O).

    The loss uses the faster special cases: :meth:`head_shared` (one action for every gamma,
    with gradients) and :meth:`values` (no gradients, decoded to scalars chunk by chunk).
    """

    per_action = False
    """False: the action enters the second layer (this class); True: see :class:`PerActionCritics`."""

    def __init__(self, d: int, shapes: Shapes, cfg: ModelConfig, outputs: int) -> None:
        super().__init__()
        C, H = cfg.critics, cfg.head_hidden
        self.discrete, self.A = shapes.discrete, shapes.action_dim
        self.l1 = EnsembleLinear(C, d, H)
        self.l2 = EnsembleLinear(C, H, H)
        if not self.per_action:
            self.act_in = nn.Parameter(torch.randn(C, self.A, H) / math.sqrt(H))  # rows of W2 for the action
        self.gamma_in = nn.Parameter(torch.randn(C, 1, H) / math.sqrt(H))  # row of W2 for the horizon
        self.out = EnsembleLinear(C, H, outputs * (self.A if self.per_action else 1))
        self.register_buffer("horizon", symlog(1.0 / (1.0 - torch.tensor(cfg.gammas))))  # (G,)

    def _params(self, idx: torch.Tensor | None, frozen: bool) -> dict[str, torch.Tensor]:
        out = {}
        for n, w in self.named_parameters():
            w = w.detach() if frozen else w
            out[n] = w if idx is None else w[idx]
        return out

    def trunk(self, h: torch.Tensor, idx: torch.Tensor | None = None, frozen: bool = False) -> torch.Tensor:
        """h (B, L, D) -> second-layer pre-activations z (C, B*L, H) from h alone.
        ``idx`` selects a subset of critics; ``frozen`` blocks gradients into the critics' own
        parameters (the Dep. actor's path through a continuous action)."""
        p = self._params(idx, frozen)
        C, D, H = p["l1.weight"].shape
        x = h.reshape(-1, D) @ p["l1.weight"].permute(1, 0, 2).reshape(D, C * H)  # one GEMM for all critics
        z = F.leaky_relu(x.reshape(-1, C, H).transpose(0, 1) + p["l1.bias"])
        return torch.baddbmm(p["l2.bias"], z, p["l2.weight"])

    def head(self, z: torch.Tensor, actions: torch.Tensor, idx: torch.Tensor | None = None,
             frozen: bool = False) -> torch.Tensor:
        """z (C, B*L, H), actions (B, L, K, G) long or (B, L, K, G, A) -> (C, B, L, K, G, O)."""
        p = self._params(idx, frozen)
        C, M, H = z.shape
        B, L, K, G = actions.shape[:4]
        g_term = self.horizon.reshape(1, 1, G, 1) * p["gamma_in"].reshape(C, 1, 1, H)  # (C, 1, G, H)
        if self.discrete:  # one table of (action, gamma) rows, gathered once
            table = (p["act_in"][:, :, None] + g_term).reshape(C, self.A * G, H)
            flat = actions * G + torch.arange(G, device=actions.device)
            extra = table[:, flat.reshape(-1)].reshape(C, M, K, G, H)
        else:
            a_term = (actions.reshape(1, -1, self.A).expand(C, -1, -1) @ p["act_in"]).reshape(C, M, K, G, H)
            extra = a_term + g_term.unsqueeze(1)
        u = F.leaky_relu(extra.add_(z.reshape(C, M, 1, 1, H)), LEAKY_SLOPE)
        q = torch.baddbmm(p["out.bias"], u.reshape(C, -1, H), p["out.weight"])
        return q.reshape(C, B, L, K, G, -1)

    def _action_rows(self, actions: torch.Tensor) -> torch.Tensor:
        """One action per token, (B, L) long or (B, L, A) -> its second-layer rows (C, B*L, H)."""
        if self.discrete:
            return self.act_in[:, actions.reshape(-1)]
        return actions.reshape(1, -1, self.A).expand(self.act_in.shape[0], -1, -1) @ self.act_in

    def head_shared(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Outputs for one action per token shared by every gamma (the replay action), with
        gradients: z (C, B*L, H), actions (B, L) long or (B, L, A) -> (C, B, L, G, O).
        Equals ``head(z, actions expanded to (B, L, 1, G[, A]))[:, :, :, 0]``."""
        C, M, H = z.shape
        B, L = actions.shape[:2]
        G = self.horizon.shape[0]
        a_term = self._action_rows(actions)
        g_term = self.horizon.reshape(1, G, 1) * self.gamma_in  # (C, G, H)
        q = _SharedActionHead.apply(z, a_term, g_term, self.out.weight, self.out.bias)
        return q.reshape(C, B, L, G, -1)

    def twohot_shared(self, z: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
                      decode) -> tuple[torch.Tensor, torch.Tensor]:
        """The Ind. critic's loss at the replay action without storing the logits: z (C, B*L, H),
        actions (B, L) long or (B, L, A), two-hot ``target`` (B, L, G, O), ``decode`` logits
        (..., O) -> values (...) -> cross-entropy -target . log_softmax(q) (C, B, L, G) with
        gradients, and decode(q) (C, B, L, G) without.
        Equals those functions of ``head_shared(z, actions)``."""
        C, M, H = z.shape
        B, L = actions.shape[:2]
        G = self.horizon.shape[0]
        a_term = self._action_rows(actions)
        g_term = self.horizon.reshape(1, G, 1) * self.gamma_in  # (C, G, H)
        t = target.reshape(M, G, -1).to(z.dtype).contiguous()
        ce, values = _SharedActionHead.apply(z, a_term, g_term, self.out.weight, self.out.bias, t, decode)
        return ce.reshape(C, B, L, G), values.reshape(C, B, L, G)

    @torch.no_grad()
    def values(self, z: torch.Tensor, actions: torch.Tensor, decode, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar values without gradients, chunk by chunk (the (C, B*L, K, G, H) hidden
        activations are never built whole): z (C, B*L, H), actions (B, L, K, G) long or
        (B, L, K, G, A), ``decode`` maps outputs (..., O) to scalars (...) -> (C, B, L, K, G).
        Equals ``decode(head(z, actions, idx))``."""
        p = self._params(idx, True)
        C, M, H = z.shape
        B, L, K, G = actions.shape[:4]
        g_term = self.horizon.reshape(1, G, 1) * p["gamma_in"]  # (C, G, H)
        if self.discrete:
            table = (p["act_in"][:, :, None] + g_term[:, None]).reshape(C, self.A * G, H)
            flat = (actions * G + torch.arange(G, device=actions.device)).reshape(M, K * G)
        else:
            acts = actions.reshape(M, K * G, self.A)
        out = torch.empty(C, M, K * G, device=z.device, dtype=torch.float32)
        step = _chunk_rows(M, C * K * G * H)
        for s in range(0, M, step):
            e = min(M, s + step)
            if self.discrete:
                u = table[:, flat[s:e].reshape(-1)].reshape(C, e - s, K, G, H)
            else:
                a_term = acts[s:e].reshape(1, -1, self.A).expand(C, -1, -1) @ p["act_in"]
                u = a_term.reshape(C, e - s, K, G, H).add_(g_term[:, None, None])
            u = F.leaky_relu_(u.add_(z[:, s:e, None, None]), LEAKY_SLOPE)
            q = torch.baddbmm(p["out.bias"], u.reshape(C, -1, H), p["out.weight"])
            out[:, s:e] = decode(q).reshape(C, e - s, K * G)
        return out.reshape(C, B, L, K, G)

    def forward(self, h: torch.Tensor, actions: torch.Tensor, idx: torch.Tensor | None = None,
                frozen: bool = False) -> torch.Tensor:
        return self.head(self.trunk(h, idx, frozen), actions, idx, frozen)


class PerActionCritics(CriticEnsemble):
    """C critics with one output block per discrete action (AMAGO-1's critic shape): h enters the
    first layer, the horizon feature the second, and the last layer emits O outputs for each of
    the A actions; an action picks its block:

        Q_c(h, a, gamma) = W_out[c, :, a]^T leaky_relu(W2[c]^T z1(h) + b2[c] + gamma_row[c] * symlog(1/(1-gamma))) + b_out[c, a]

    The value of every action is then a first-order function of the history, while the
    action-input head can only express it through an action x history interaction behind a
    nonlinearity. Discrete actions only. Same methods and shapes as :class:`CriticEnsemble`;
    ``out`` holds A blocks of O outputs (PopArt rescales them all alike).
    """

    per_action = True

    def __init__(self, d: int, shapes: Shapes, cfg: ModelConfig, outputs: int) -> None:
        if not shapes.discrete:
            raise ConfigError("critic_head 'per-action' needs discrete actions; use critic_head = "
                              "'action-input' (or 'auto') for continuous actions")
        super().__init__(d, shapes, cfg, outputs)

    def _hidden(self, z: torch.Tensor, g_term: torch.Tensor, s: int, e: int) -> torch.Tensor:
        """Rows s:e of the last hidden layer, shared by every action: (C, e - s, G, H)."""
        return F.leaky_relu(z[:, s:e, None, :] + g_term[:, None], LEAKY_SLOPE)

    def _every_action(self, u: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """Hidden (C, m, G, H) -> outputs of every action (C, m, G, A, O)."""
        C, m, G, H = u.shape
        q = torch.baddbmm(p["out.bias"], u.reshape(C, -1, H), p["out.weight"])
        return q.reshape(C, m, G, self.A, -1)

    def _g_term(self, p: dict[str, torch.Tensor]) -> torch.Tensor:
        G = self.horizon.shape[0]
        return self.horizon.reshape(1, G, 1) * p["gamma_in"]  # (C, G, H)

    def head(self, z: torch.Tensor, actions: torch.Tensor, idx: torch.Tensor | None = None,
             frozen: bool = False) -> torch.Tensor:
        """z (C, B*L, H), actions (B, L, K, G) long -> (C, B, L, K, G, O): the plain computation
        (every action's outputs, then a gather)."""
        p = self._params(idx, frozen)
        C, M, H = z.shape
        B, L, K, G = actions.shape
        q = self._every_action(self._hidden(z, self._g_term(p), 0, M), p)  # (C, M, G, A, O)
        O = q.shape[-1]
        pick = actions.reshape(1, M, K, G, 1, 1).expand(C, M, K, G, 1, O)
        return q[:, :, None].expand(C, M, K, G, self.A, O).gather(4, pick)[:, :, :, :, 0].reshape(C, B, L, K, G, O)

    def _blocks(self) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """The last layer split into per-action blocks: A weights (C, H, O) and A biases (C, 1, O)
        (views; unbind's backward stacks their gradients in one step)."""
        C, H, _ = self.out.weight.shape
        return (self.out.weight.reshape(C, H, self.A, -1).unbind(2), self.out.bias.reshape(C, 1, self.A, -1).unbind(2))

    def _grouped(self, z: torch.Tensor, actions: torch.Tensor, target: torch.Tensor | None = None,
                 decode=None) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """The replay action's last two layers with gradients, rows grouped by action: z (C, M, H),
        actions (B, L) long; one gather of z, then contiguous splits, and each group meets only its
        action's block of the last layer through :class:`_SharedActionHead` (chunked, hidden layer
        recomputed in backward; the action adds nothing to the hidden layer here, so its rows are
        zeros). Returns (the outputs in action order: q (C, M, G, O), or with two-hot ``target``
        (M, G, O) and ``decode`` the cross-entropy and decoded values (C, M, G) each; the order (M,))."""
        C, M, H = z.shape
        a = actions.reshape(-1)
        order = torch.argsort(a, stable=True)
        counts = torch.bincount(a, minlength=self.A).tolist()
        weights, biases = self._blocks()
        g_term = self.horizon.reshape(1, -1, 1) * self.gamma_in  # (C, G, H), as _g_term
        zero = z.new_zeros(())
        t = None if target is None else target[order].split(counts)
        parts = []
        for act, zg in enumerate(z[:, order].split(counts, 1)):
            if counts[act]:
                extra = () if t is None else (t[act].contiguous(), decode)
                parts.append(_SharedActionHead.apply(zg, zero.expand(C, counts[act], H), g_term, weights[act], biases[act], *extra))
        if target is None:
            return (torch.cat(parts, 1),), order
        return (torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)), order

    @staticmethod
    def _unsort(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        """Rows (dim 1) in action order -> token order."""
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.shape[0], device=order.device)
        return x[:, inverse]

    def head_shared(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The replay action's outputs with gradients, z (C, B*L, H), actions (B, L) long ->
        (C, B, L, G, O), without computing the other actions' outputs (see :meth:`_grouped`).
        Runs in the parameters' precision (also under mixed precision, like the action-input head)."""
        C, M, H = z.shape
        B, L = actions.shape
        (q,), order = self._grouped(z, actions)
        return self._unsort(q, order).reshape(C, B, L, q.shape[2], -1)

    def twohot_shared(self, z: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
                      decode) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`CriticEnsemble.twohot_shared`: cross-entropy (C, B, L, G) with gradients and
        decoded values (C, B, L, G) without, computed in action order (the target is sorted to
        match) by :meth:`_grouped` and put back in token order."""
        C, M, H = z.shape
        B, L = actions.shape
        G = self.horizon.shape[0]
        (ce, values), order = self._grouped(z, actions, target.reshape(M, G, -1), decode)
        return self._unsort(ce, order).reshape(C, B, L, G), self._unsort(values, order).reshape(C, B, L, G)

    @torch.no_grad()
    def values(self, z: torch.Tensor, actions: torch.Tensor, decode, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar values without gradients, chunk by chunk: z (C, B*L, H), actions (B, L, K, G)
        long -> (C, B, L, K, G). A few actions per token (the TD target's K = 1, the actor's
        baseline samples): the (token, sample, gamma) pairs are grouped by action and each group
        meets only its action's block of the last layer. Many (K >= A / 4, e.g. every action):
        every action's outputs are computed once per (token, gamma) and the asked ones gathered."""
        p = self._params(idx, True)
        C, M, H = z.shape
        B, L, K, G = actions.shape
        g_term = self._g_term(p)
        O = p["out.weight"].shape[-1] // self.A
        acts = actions.reshape(M, K, G)
        out = torch.empty(C, M, K, G, device=z.device, dtype=torch.float32)
        if 4 * K >= self.A:
            step = _chunk_rows(M, C * G * self.A * O)
            for s in range(0, M, step):
                e = min(M, s + step)
                q = self._every_action(self._hidden(z, g_term, s, e), p).reshape(C, -1, O)  # (C, m*G*A, O)
                row = (torch.arange(e - s, device=z.device)[:, None, None] * G + torch.arange(G, device=z.device)) * self.A
                q = q[:, (row + acts[s:e]).reshape(-1)]  # the asked actions' outputs (C, m*K*G, O)
                out[:, s:e] = decode(q).float().reshape(C, e - s, K, G)
            return out.reshape(C, B, L, K, G)
        weights = p["out.weight"].reshape(C, H, self.A, O).unbind(2)
        biases = p["out.bias"].reshape(C, 1, self.A, O).unbind(2)
        step = _chunk_rows(M, C * G * H * (K + 1))
        for s in range(0, M, step):
            e = min(M, s + step)
            u = self._hidden(z, g_term, s, e).reshape(C, -1, H)  # (C, m*G, H): row i*G + g
            a = acts[s:e].reshape(-1)  # pair (i, k, g) -> its action
            row = (torch.arange(e - s, device=z.device)[:, None, None] * G + torch.arange(G, device=z.device)[None, None]).expand(e - s, K, G).reshape(-1)
            order = torch.argsort(a, stable=True)
            counts = torch.bincount(a, minlength=self.A).tolist()
            parts = [torch.baddbmm(biases[act], u.index_select(1, rows), weights[act])
                     for act, rows in enumerate(row[order].split(counts)) if counts[act]]
            vals = decode(torch.cat(parts, 1)).float()  # (C, m*K*G) in action order
            chunk = torch.empty(C, a.shape[0], device=z.device, dtype=torch.float32)
            chunk[:, order] = vals
            out[:, s:e] = chunk.reshape(C, e - s, K, G)
        return out.reshape(C, B, L, K, G)


class ActionFirstCritics(CriticEnsemble):
    """C critics where the action and the horizon enter the FIRST hidden layer beside h (the
    reference AMAGO's critic for continuous actions), so both hidden layers see history and
    action together:

        Q_c(h, a, gamma) = W_out^T leaky_relu(W2^T leaky_relu(W1^T h + A^T a + gamma_row * symlog(1/(1-gamma)))) + b_out

    The same parameters as :class:`CriticEnsemble` (``act_in`` and ``gamma_in`` now rows of W1),
    the same methods and shapes; ``trunk`` returns the first layer's pre-activation from h
    alone, and everything after it runs once per (token, action, gamma), so it costs about
    one H x H layer more per evaluated action than the action-input head. Plain autograd."""

    def trunk(self, h: torch.Tensor, idx: torch.Tensor | None = None, frozen: bool = False) -> torch.Tensor:
        """h (B, L, D) -> first-layer pre-activations z (C, B*L, H) from h alone."""
        p = self._params(idx, frozen)
        C, D, H = p["l1.weight"].shape
        x = h.reshape(-1, D) @ p["l1.weight"].permute(1, 0, 2).reshape(D, C * H)
        return x.reshape(-1, C, H).transpose(0, 1) + p["l1.bias"]

    def _rest(self, pre: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """First-layer pre-activations (C, R, H) -> outputs (C, R, O)."""
        u = F.leaky_relu(pre, LEAKY_SLOPE)
        u = F.leaky_relu(torch.baddbmm(p["l2.bias"], u, p["l2.weight"]), LEAKY_SLOPE)
        return torch.baddbmm(p["out.bias"], u, p["out.weight"])

    def _pre(self, z: torch.Tensor, actions: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """z (C, m, H), actions (m, K, G) long or (m, K, G, A) -> first-layer pre-activations (C, m*K*G, H)."""
        C, m, H = z.shape
        K, G = actions.shape[1:3]
        if self.discrete:
            a_term = p["act_in"][:, actions.reshape(-1)].reshape(C, m, K, G, H)
        else:
            a_term = (actions.reshape(1, -1, self.A).expand(C, -1, -1) @ p["act_in"]).reshape(C, m, K, G, H)
        g_term = self.horizon.reshape(1, 1, 1, G, 1) * p["gamma_in"].reshape(C, 1, 1, 1, H)
        return (a_term + g_term + z[:, :, None, None]).reshape(C, -1, H)

    def head(self, z: torch.Tensor, actions: torch.Tensor, idx: torch.Tensor | None = None,
             frozen: bool = False) -> torch.Tensor:
        p = self._params(idx, frozen)
        C, M, H = z.shape
        B, L, K, G = actions.shape[:4]
        q = self._rest(self._pre(z, actions.reshape(M, K, G, *actions.shape[4:]), p), p)
        return q.reshape(C, B, L, K, G, -1)

    def head_shared(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        B, L = actions.shape[:2]
        G = self.horizon.shape[0]
        every = actions.reshape(B, L, 1, 1, *actions.shape[2:]).expand(B, L, 1, G, *actions.shape[2:])
        return self.head(z, every)[:, :, :, 0]

    def twohot_shared(self, z: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
                      decode) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.head_shared(z, actions)  # (C, B, L, G, O)
        ce = -(target.to(q.dtype)[None] * q.log_softmax(-1)).sum(-1)
        return ce, decode(q.detach())

    @torch.no_grad()
    def values(self, z: torch.Tensor, actions: torch.Tensor, decode, idx: torch.Tensor | None = None) -> torch.Tensor:
        p = self._params(idx, True)
        C, M, H = z.shape
        B, L, K, G = actions.shape[:4]
        acts = actions.reshape(M, K, G, *actions.shape[4:])
        out = torch.empty(C, M, K * G, device=z.device, dtype=torch.float32)
        step = _chunk_rows(M, C * K * G * H)
        for s in range(0, M, step):
            e = min(M, s + step)
            out[:, s:e] = decode(self._rest(self._pre(z[:, s:e], acts[s:e], p), p)).reshape(C, e - s, K * G)
        return out.reshape(C, B, L, K, G)


def critic_head_kind(cfg: ModelConfig, shapes: Shapes) -> str:
    """The critic head a config gets on a suite: 'per-action' or 'action-input' ('auto' picks
    per-action for discrete actions)."""
    if cfg.critic_head == "auto":
        return "per-action" if shapes.discrete else "action-input"
    return cfg.critic_head


# ---------------------------------------------------------------------------------------
# The whole model


class AmagoModel(nn.Module):
    def __init__(self, shapes: Shapes, cfg: ModelConfig, critic_outputs: int) -> None:
        super().__init__()
        self.shapes, self.cfg = shapes, cfg
        self.tstep = TimestepEncoder(shapes, cfg)
        enc = {"transformer": TransformerEncoder, "gru": GRUEncoder, "ff": FFEncoder}[cfg.traj_encoder]
        self.traj = enc(cfg.tstep_dim, cfg)
        self.actor = ActorHead(cfg.d_model, shapes, cfg)
        critics = {"per-action": PerActionCritics, "action-input": CriticEnsemble,
                   "action-first": ActionFirstCritics}[critic_head_kind(cfg, shapes)]
        self.critics = critics(cfg.d_model, shapes, cfg, critic_outputs)

    def encode(self, obs: Any, prev_action: torch.Tensor, prev_reward: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        """Whole sequences: (B, L, ...) tokens -> h (B, L, D)."""
        return self.traj(self.tstep(obs, prev_action, prev_reward, time))

    def init_state(self, n: int, device) -> Any:
        return self.traj.init_state(n, device)

    def reset(self, state: Any, mask: torch.Tensor) -> Any:
        return self.traj.reset(state, mask)

    def step(self, obs: Any, prev_action: torch.Tensor, prev_reward: torch.Tensor, time: torch.Tensor,
             state: Any) -> tuple[torch.Tensor, Any]:
        """One token per env: (N, ...) -> h (N, D) and the new state."""
        x = self.tstep(_unsqueeze(obs), prev_action[:, None], prev_reward[:, None], time[:, None])[:, 0]
        return self.traj.step(x, state)


def _unsqueeze(obs: Any) -> Any:
    return {k: v[:, None] for k, v in obs.items()} if isinstance(obs, dict) else obs[:, None]


# ---------------------------------------------------------------------------------------
# Policy distributions


def sample_actions(params: torch.Tensor, discrete: bool, k: int, generator: torch.Generator | None = None,
                   greedy: bool = False) -> torch.Tensor:
    """Draw k actions per (..., G) policy: (..., k, G) long, or (..., k, G, A) in [-1, 1].

    ``generator`` may live on another device than ``params`` (the learner's is a CPU generator,
    so that its checkpointed state is the same on any device): the draws are then made on the
    generator's device and moved (discrete: one uniform per draw, inverted through the CDF)."""
    other = generator is not None and generator.device != params.device
    if discrete:
        probs = params.softmax(-1)  # (..., G, A)
        if greedy:
            return probs.argmax(-1).unsqueeze(-2).expand(*probs.shape[:-2], k, probs.shape[-2])
        flat = probs.reshape(-1, probs.shape[-1])
        if other:
            u = torch.rand(flat.shape[0], k, generator=generator, device=generator.device).to(flat.device)
            idx = inverse_cdf(flat, u)
        else:
            idx = torch.multinomial(flat, k, replacement=True, generator=generator)  # (M, k)
        return idx.reshape(*probs.shape[:-1], k).movedim(-1, -2)
    mean, log_std = params[..., 0], log_std_of(params)
    if greedy:
        return torch.tanh(mean).unsqueeze(-3).expand(*mean.shape[:-2], k, *mean.shape[-2:])
    if other:
        eps = torch.randn((k, *mean.shape), generator=generator, device=generator.device).to(mean.device, mean.dtype)
    else:
        eps = torch.randn((k, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
    return torch.tanh(mean + log_std.exp() * eps).movedim(0, -3)


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Categorical draws by inverting the CDF: probs (M, A) rows of non-negative weights, u (M, k)
    uniforms in [0, 1) -> (M, k) long, the first action whose cumulative weight exceeds u times the
    row's total (so an action of weight 0 is never drawn, and a total rounded below 1 is harmless)."""
    cdf = probs.float().cumsum(-1)
    return torch.searchsorted(cdf, (u.float() * cdf[:, -1:]).contiguous(), right=True).clamp(max=probs.shape[-1] - 1)


def rsample_actions(params: torch.Tensor, k: int) -> torch.Tensor:
    """Reparameterised continuous actions (..., k, G, A) (Dep. actor)."""
    mean, log_std = params[..., 0], log_std_of(params)
    eps = torch.randn((k, *mean.shape), device=mean.device, dtype=mean.dtype)
    return torch.tanh(mean + log_std.exp() * eps).movedim(0, -3)


def log_prob(params: torch.Tensor, actions: torch.Tensor, discrete: bool, clip: float = 0.999) -> torch.Tensor:
    """log pi(a | h) for every gamma: params (..., G, A[, 2]), actions (...) long or (..., A) -> (..., G).
    Continuous actions are clipped to [-clip, clip] first (tanh never reaches +-1)."""
    if discrete:
        return params.log_softmax(-1).gather(-1, actions[..., None, None].expand(*params.shape[:-1], 1).long())[..., 0]
    mean, log_std = params[..., 0], log_std_of(params)
    a = actions.unsqueeze(-2).clamp(-clip, clip)  # (..., 1, A)
    pre = torch.atanh(a)
    lp = -0.5 * ((pre - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    lp = lp - torch.log1p(-a.pow(2) + 1e-6)
    return lp.sum(-1)
