"""AMAGO-2 model and losses: two-hot/symlog, masks, the key/value cache, gradients."""

from __future__ import annotations

import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from amago_bench.agents.amago2.config import AgentConfig, ConfigError, LossConfig, ModelConfig, OptimConfig
from amago_bench.agents.amago2.learner import Learner, lr_factor
from amago_bench.agents.amago2.losses import Batch, TwoHot, amago_loss
from amago_bench.agents.amago2.model import AmagoModel, inverse_cdf, shapes_from_spaces, symexp, symlog

TINY = ModelConfig(tstep_dim=16, tstep_hidden=16, d_model=16, d_ff=32, layers=2, heads=2, context=12, dropout=0.0,
                   head_hidden=16, bins=16, gammas=(0.9, 0.99), act_gamma=0.99)
DISCRETE = shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(3), 8, 2)
CONTINUOUS = shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Box(-2, 2, (2,)), 8, 2)
VARIANTS = [("ind", "ind"), ("dep", "dep"), ("dep", "ind"), ("ind", "dep")]
# (action space, critic head): discrete actions get both heads, continuous only action-input
HEADS = pytest.mark.parametrize("shapes,head", [(DISCRETE, "per-action"), (DISCRETE, "action-input"),
                                                (CONTINUOUS, "action-input"), (CONTINUOUS, "action-first"),
                                                (DISCRETE, "action-first")],
                                ids=["discrete-per-action", "discrete-action-input", "continuous", "continuous-action-first",
                                     "discrete-action-first"])


def _model(head: str) -> ModelConfig:
    return dataclasses.replace(TINY, critic_head=head)


def test_symlog_symexp_inverse():
    x = torch.tensor([-1e5, -300.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 42.0, 1e5], dtype=torch.float64)
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-9, atol=1e-12)
    assert torch.equal(torch.sign(symlog(x)), torch.sign(x))
    assert float(symlog(torch.tensor(np.e - 1))) == pytest.approx(1.0)


@pytest.mark.parametrize("bins", [2, 16, 64, 128])
def test_twohot_round_trip(bins):
    th = TwoHot(bins, 1e5).double()
    y = torch.tensor([-9e4, -1234.5, -1.0, -0.01, 0.0, 0.3, 1.0, 7.0, 5e3, 9.9e4], dtype=torch.float64)
    p = th.encode(y)
    assert p.shape == (10, bins)
    assert torch.allclose(p.sum(-1), torch.ones(10, dtype=torch.float64))
    assert ((p > 0).sum(-1) <= 2).all()  # at most two neighbouring bins
    # decoding the two-hot distribution (as logits = log p) gives back y
    decoded = th.decode(torch.log(p.clamp_min(1e-300)))
    assert torch.allclose(decoded, y, rtol=1e-6, atol=1e-6)
    # values beyond the range clip to the end bins
    assert float(th.decode(torch.log(th.encode(torch.tensor([1e9], dtype=torch.float64)).clamp_min(1e-300)))) == pytest.approx(1e5, rel=1e-6)


def _batch(shapes, B=3, L=10, lengths=(10, 6, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    discrete = shapes.discrete
    A = shapes.action_dim
    act = torch.randint(0, A, (B, L), generator=g) if discrete else torch.rand(B, L, A, generator=g) * 2 - 1
    valid = torch.zeros(B, L, dtype=torch.bool)
    for b, n in enumerate(lengths):
        valid[b, : n - 1] = True
    done = torch.zeros(B, L)
    done[1, lengths[1] - 2] = 1.0
    return Batch(obs=torch.randn(B, L, 5, generator=g), prev_action=act.roll(1, 1), prev_reward=torch.randn(B, L, generator=g) * 10,
                 time=torch.rand(B, L, 3, generator=g), action=act, reward=torch.randn(B, L, generator=g) * 100, done=done,
                 valid=valid), lengths


def _garbage(batch: Batch, lengths, shapes) -> Batch:
    """Replace every padded token (and the action/reward/done of each window's last token) by junk."""
    b2 = dataclasses.replace(batch, **{k: getattr(batch, k).clone() for k in
                                       ("obs", "prev_action", "prev_reward", "time", "action", "reward", "done")})
    g = torch.Generator().manual_seed(123)
    for b, n in enumerate(lengths):
        b2.obs[b, n:] = torch.randn(b2.obs[b, n:].shape, generator=g) * 1e3
        b2.prev_reward[b, n:] = 1e6
        b2.time[b, n:] = 77.0
        b2.reward[b, n - 1:] = -1e6
        b2.done[b, n - 1:] = 1.0
        if shapes.discrete:
            b2.prev_action[b, n:] = shapes.action_dim - 1
            b2.action[b, n - 1:] = (b2.action[b, n - 1:] + 1) % shapes.action_dim
        else:
            b2.prev_action[b, n:] = 0.9
            b2.action[b, n - 1:] = -0.9
    return b2


def _loss_and_grads(learner: Learner, batch: Batch, seed: int):
    learner.model.zero_grad(set_to_none=True)
    state = {k: v.clone() for k, v in learner.popart.state_dict().items()}
    crit = {k: v.clone() for k, v in learner.model.critics.state_dict().items()}
    tgt = {k: v.clone() for k, v in learner.target_critics.state_dict().items()}
    torch.manual_seed(seed)
    loss, metrics = amago_loss(learner.model, learner.target_critics, learner.twohot, learner.popart, batch,
                               learner.cfg.loss, torch.Generator().manual_seed(seed))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in learner.model.named_parameters() if p.grad is not None}
    learner.popart.load_state_dict(state)  # PopArt moves the output layers: undo for the next call
    learner.model.critics.load_state_dict(crit)
    learner.target_critics.load_state_dict(tgt)
    return loss.detach(), grads


@pytest.mark.parametrize("critic,actor", VARIANTS)
@HEADS
def test_padding_never_reaches_a_loss(critic, actor, shapes, head):
    cfg = AgentConfig(model=_model(head), loss=LossConfig(critic=critic, actor=actor))
    learner = Learner(cfg, shapes, seed=0)
    learner.model.eval()  # no dropout; sigma-reparam power iteration frozen
    batch, lengths = _batch(shapes)
    loss1, g1 = _loss_and_grads(learner, batch, seed=5)
    loss2, g2 = _loss_and_grads(learner, _garbage(batch, lengths, shapes), seed=5)
    assert torch.isfinite(loss1)
    assert torch.allclose(loss1, loss2, rtol=1e-5, atol=1e-6)
    assert g1.keys() == g2.keys()
    for n in g1:
        assert torch.allclose(g1[n], g2[n], rtol=1e-4, atol=1e-6), n


@pytest.mark.parametrize("critic,actor", VARIANTS)
@HEADS
def test_every_parameter_gets_a_gradient(critic, actor, shapes, head):
    cfg = AgentConfig(model=_model(head), loss=LossConfig(critic=critic, actor=actor))
    learner = Learner(cfg, shapes, seed=1)
    learner.model.train()
    batch, _ = _batch(shapes, lengths=(10, 10, 10))
    loss, grads = _loss_and_grads(learner, batch, seed=0)
    names = [n for n, _ in learner.model.named_parameters()]
    missing = [n for n in names if n not in grads]
    assert not missing, f"no gradient for {missing}"
    zero = [n for n in names if float(grads[n].abs().sum()) == 0.0 or not torch.isfinite(grads[n]).all()]
    assert not zero, f"zero or non-finite gradient for {zero}"


def test_update_changes_weights_and_target_follows_slowly():
    cfg = AgentConfig(model=TINY, loss=LossConfig(tau=0.1))
    learner = Learner(cfg, DISCRETE, seed=0)
    before = {n: p.detach().clone() for n, p in learner.model.named_parameters()}
    tgt_before = [p.clone() for p in learner.target_critics.parameters()]
    batch, _ = _batch(DISCRETE)
    m = learner.update(batch)
    assert np.isfinite(m["loss/total"]) and learner.updates == 1
    changed = [n for n, p in learner.model.named_parameters() if not torch.equal(p, before[n])]
    assert len(changed) == len(before)
    for t0, t1, p in zip(tgt_before, learner.target_critics.parameters(), learner.model.critics.parameters()):
        assert torch.allclose(t1, 0.9 * t0 + 0.1 * p.detach(), atol=1e-6)


@pytest.mark.parametrize("critic,actor", VARIANTS)
@HEADS
def test_mixed_precision_update_matches_fp32(critic, actor, shapes, head):
    """precision = "bf16" (the CUDA default) runs the same update under bf16 autocast, here on the
    CPU: every parameter stays float32, the loss is within bf16 rounding of the fp32 loss, and the
    padding-invariance of the fp32 path still holds."""
    cfgs = {p: AgentConfig(model=_model(head), loss=LossConfig(critic=critic, actor=actor), optim=OptimConfig(precision=p))
            for p in ("fp32", "bf16")}
    assert not Learner(cfgs["fp32"], shapes, seed=0).amp and Learner(cfgs["bf16"], shapes, seed=0).amp
    batch, lengths = _batch(shapes)
    losses = {}
    for p, cfg in cfgs.items():
        learner = Learner(cfg, shapes, seed=0)
        learner.model.eval()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=learner.amp):
            losses[p], _ = _loss_and_grads(learner, batch, seed=5)
            garbage, _ = _loss_and_grads(learner, _garbage(batch, lengths, shapes), seed=5)
        assert torch.allclose(losses[p], garbage, rtol=1e-5, atol=1e-6), p
        metrics = learner.update(batch)
        assert np.isfinite(metrics["loss/total"]), p
        assert all(q.dtype == torch.float32 and torch.isfinite(q).all() for q in learner.model.parameters()), p
    assert float(losses["bf16"]) == pytest.approx(float(losses["fp32"]), rel=0.05)


# -- the key/value cache ----------------------------------------------------------------------


def _tokens(N, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(N, T, 5, generator=g), torch.randint(0, 3, (N, T), generator=g),
            torch.randn(N, T, generator=g), torch.rand(N, T, 3, generator=g))


@pytest.mark.parametrize("encoder", ["transformer", "gru", "ff"])
def test_cached_acting_equals_full_sequence(encoder):
    cfg = dataclasses.replace(TINY, traj_encoder=encoder, context=16)
    model = AmagoModel(DISCRETE, cfg, 16).eval()
    N, T = 3, 11
    obs, pa, pr, tm = _tokens(N, T)
    with torch.no_grad():
        full = model.encode(obs, pa, pr, tm)  # (N, T, D)
        state = model.init_state(N, "cpu")
        steps = []
        for t in range(T):
            h, state = model.step(obs[:, t], pa[:, t], pr[:, t], tm[:, t], state)
            steps.append(h)
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)


def test_cache_reset_per_env_and_sliding_window():
    cfg = dataclasses.replace(TINY, context=8)
    model = AmagoModel(DISCRETE, cfg, 16).eval()
    N, T = 2, 14
    obs, pa, pr, tm = _tokens(N, T, seed=3)
    with torch.no_grad():
        state = model.init_state(N, "cpu")
        out = []
        for t in range(T):
            if t == 5:  # env 1 starts a new trial at t = 5
                state = model.reset(state, torch.tensor([False, True]))
            h, state = model.step(obs[:, t], pa[:, t], pr[:, t], tm[:, t], state)
            out.append(h)
        out = torch.stack(out, 1)

        def window(i, lo, hi):  # full forward over tokens lo..hi-1 of env i: the last output
            return model.encode(obs[i:i + 1, lo:hi], pa[i:i + 1, lo:hi], pr[i:i + 1, lo:hi], tm[i:i + 1, lo:hi])[0, -1]

        # env 1 after its reset sees only tokens from t = 5 on
        assert torch.allclose(out[1, 9], window(1, 5, 10), atol=1e-5)
        # env 0: cache full at t = 8 -> keeps tokens 4..7, so token 8 sits at position 4
        assert torch.allclose(out[0, 7], window(0, 0, 8), atol=1e-5)
        assert torch.allclose(out[0, 8], window(0, 4, 9), atol=1e-5)
        assert torch.allclose(out[0, 11], window(0, 4, 12), atol=1e-5)
        # and it fills again at t = 12 -> keeps 8..11
        assert torch.allclose(out[0, 12], window(0, 8, 13), atol=1e-5)


@pytest.mark.parametrize("encoder", ["transformer", "gru"])
def test_cached_acting_under_mixed_precision(encoder):
    """Acting on CUDA runs under bf16 autocast with a float32 cache; the same code under CPU
    autocast (sliding window included) must run and stay within bf16 rounding of float32."""
    cfg = dataclasses.replace(TINY, context=8, traj_encoder=encoder)
    model = AmagoModel(DISCRETE, cfg, 16).eval()
    N, T = 2, 14
    obs, pa, pr, tm = _tokens(N, T, seed=4)
    out = {}
    with torch.no_grad():
        for amp in (False, True):
            state = model.init_state(N, "cpu")
            hs = []
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                for t in range(T):
                    h, state = model.step(obs[:, t], pa[:, t], pr[:, t], tm[:, t], state)
                    hs.append(model.actor(h).float())
            out[amp] = torch.stack(hs, 1)
    assert torch.isfinite(out[True]).all()
    assert torch.allclose(out[True], out[False], atol=0.1, rtol=0.05), (out[True] - out[False]).abs().max()


@HEADS
def test_each_loss_switch_changes_the_loss_it_names(shapes, head):
    """The actor switch changes the actor loss and nothing else (same weights, same batch); the
    critic switch changes the critic's output layer (bins vs one PopArt scalar) and its loss.
    A switch that were ignored would leave the losses equal."""
    batch, _ = _batch(shapes)
    losses = {}
    for critic, actor in VARIANTS:
        cfg = AgentConfig(model=_model(head), loss=LossConfig(critic=critic, actor=actor))
        learner = Learner(cfg, shapes, seed=0)
        if critic == "ind" and actor == "ind":
            weights = {k: v.clone() for k, v in learner.model.state_dict().items()}
        elif critic == "ind":
            learner.model.load_state_dict(weights)  # the same network: only the actor loss differs
            learner.target_critics.load_state_dict(learner.model.critics.state_dict())
        _, metrics = amago_loss(learner.model, learner.target_critics, learner.twohot, learner.popart, batch, cfg.loss,
                                torch.Generator().manual_seed(0))
        losses[critic, actor] = metrics
        crit = learner.model.critics
        per_row = crit.A if crit.per_action else 1
        assert crit.out.weight.shape[-1] == (TINY.bins if critic == "ind" else 1) * per_row
    assert losses["ind", "dep"]["loss/actor"] != pytest.approx(losses["ind", "ind"]["loss/actor"])
    assert losses["ind", "dep"]["loss/critic"] == pytest.approx(losses["ind", "ind"]["loss/critic"])
    assert losses["dep", "ind"]["loss/critic"] != pytest.approx(losses["ind", "ind"]["loss/critic"])
    assert losses["dep", "dep"]["loss/actor"] != pytest.approx(losses["dep", "ind"]["loss/actor"])


@pytest.mark.parametrize("critic", ["ind", "dep"])
def test_reward_clip_clips_every_reward_before_the_multiplier(critic):
    """With ``reward_clip`` c the TD target sees clip(r, -c, c) x multiplier: a batch whose rewards
    are all beyond c gives the same loss as the same batch with every reward set to +-c."""
    batch, _ = _batch(DISCRETE)
    cfg = AgentConfig(model=_model("per-action"),
                      loss=LossConfig(critic=critic, actor="ind", reward_clip=1.0, reward_multiplier=0.5))
    big = dataclasses.replace(batch, reward=torch.where(batch.reward >= 0, 1.0, -1.0) * (5.0 + batch.reward.abs()))
    at_clip = dataclasses.replace(batch, reward=torch.where(batch.reward >= 0, 1.0, -1.0))
    out = {}
    for name, b in (("big", big), ("at_clip", at_clip)):
        torch.manual_seed(0)
        learner = Learner(cfg, DISCRETE, torch.device("cpu"), seed=0)
        _, metrics = amago_loss(learner.model, learner.target_critics, learner.twohot, learner.popart, b, cfg.loss,
                                torch.Generator().manual_seed(0))
        out[name] = metrics
    assert out["big"]["value/target_mean"] == pytest.approx(out["at_clip"]["value/target_mean"])
    assert out["big"]["loss/critic"] == pytest.approx(out["at_clip"]["loss/critic"])
    unclipped = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, reward_clip=0.0))
    torch.manual_seed(0)
    learner = Learner(unclipped, DISCRETE, torch.device("cpu"), seed=0)
    _, m = amago_loss(learner.model, learner.target_critics, learner.twohot, learner.popart, big, unclipped.loss,
                      torch.Generator().manual_seed(0))
    assert abs(m["value/target_mean"]) > 2 * abs(out["big"]["value/target_mean"])


def test_reward_clip_must_not_be_negative():
    from amago_bench.agents.amago2.config import validate

    with pytest.raises(ConfigError, match="reward_clip"):
        validate(AgentConfig(model=TINY, loss=LossConfig(reward_clip=-1.0)))


def test_learning_rate_warms_up_then_falls_to_lr_end_and_holds():
    o = OptimConfig(lr=1e-3, warmup=4, lr_end=2.5e-4, lr_anneal=10)
    factors = [lr_factor(n, o) for n in range(14)]
    assert factors[:4] == pytest.approx([0.25 * (n + 1) * (1 - 0.075 * n) for n in range(4)])
    assert factors[5] == pytest.approx(1 - 0.75 * 0.5)
    assert factors[10:] == pytest.approx([0.25] * 4)  # held at lr_end / lr
    assert all(a >= b for a, b in zip(factors[3:], factors[4:]))
    constant = OptimConfig(lr=1e-3, warmup=4)
    assert [lr_factor(n, constant) for n in (0, 3, 100)] == [0.25, 1.0, 1.0]


def test_the_optimiser_follows_the_learning_rate_schedule_across_a_save_and_load():
    cfg = AgentConfig(model=TINY, optim=OptimConfig(lr=1e-3, warmup=1, lr_end=5e-4, lr_anneal=4))
    learner = Learner(cfg, DISCRETE, seed=0)
    batch, _ = _batch(DISCRETE)
    rates = [learner.update(batch)["optim/lr"] for _ in range(2)]
    resumed = Learner(cfg, DISCRETE, seed=0)
    resumed.load_state_dict(learner.state_dict())
    rates += [resumed.update(batch)["optim/lr"] for _ in range(4)]
    assert rates == pytest.approx([1e-3 * lr_factor(n, cfg.optim) for n in range(1, 7)])
    assert rates[-1] == pytest.approx(5e-4)


def test_mlp_lr_sets_the_rate_of_everything_but_the_trajectory_encoder():
    cfg = AgentConfig(model=TINY, optim=OptimConfig(lr=1e-3, warmup=1, mlp_lr=2e-4, weight_decay=0.0))
    learner = Learner(cfg, DISCRETE, seed=0)
    groups = learner.optimizer.param_groups
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 2e-4])
    traj = {id(p) for p in learner.model.traj.parameters()}
    assert {id(p) for p in groups[0]["params"]} == traj
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(learner.model.parameters()))
    # one Adam step moves each parameter by about its group's rate (Adam's first step is lr x sign(grad))
    before = {id(p): p.detach().clone() for p in learner.model.parameters()}
    batch, _ = _batch(DISCRETE)
    learner.update(batch)
    for g, rate in zip(groups, (1e-3, 2e-4)):
        step = max(float((p.detach() - before[id(p)]).abs().max()) for p in g["params"])
        assert rate * 0.5 < step <= rate * 1.01, (rate, step)
    with pytest.raises(ConfigError, match="mlp_lr must be > 0"):
        from amago_bench.agents.amago2.config import validate
        validate(AgentConfig(model=TINY, optim=OptimConfig(mlp_lr=0.0)))


@pytest.mark.parametrize("optim, match", [(dict(lr_end=1e-4), "go together"), (dict(lr_anneal=10), "go together"),
                                          (dict(lr_end=2e-3, lr_anneal=10), r"lr_end in \(0, lr"),
                                          (dict(lr_end=1e-5, lr_anneal=-1), "go together|lr_anneal must be")])
def test_learning_rate_anneal_settings_are_validated(optim, match):
    from amago_bench.agents.amago2.config import validate

    with pytest.raises(ConfigError, match=match):
        validate(AgentConfig(model=TINY, optim=OptimConfig(lr=1e-3, **optim)))


def test_inverse_cdf_draws_follow_the_probabilities():
    """How sample_actions draws when the learner's CPU generator drives a model on a GPU: one CPU
    uniform per draw, inverted through the CDF on the model's device. Frequencies match the
    probabilities, an action of probability 0 is never drawn, and the edges of [0, 1) land on
    actions of positive probability."""
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2], [0.0, 0.0, 1.0, 0.0]])
    u = torch.rand(2, 20000, generator=torch.Generator().manual_seed(0))
    idx = inverse_cdf(probs, u)
    assert idx.shape == (2, 20000) and idx.dtype == torch.int64
    assert torch.allclose(torch.bincount(idx[0], minlength=4).float() / 20000, probs[0], atol=0.02)
    assert (idx[0] != 1).all() and (idx[1] == 2).all()
    assert inverse_cdf(torch.tensor([[0.0, 0.6, 0.4, 0.0]]), torch.tensor([[0.0, 0.9999999]])).tolist() == [[1, 2]]


def _actor_loss(cfg: AgentConfig, shapes, batch, weights=None):
    learner = Learner(cfg, shapes, seed=0)
    learner.model.eval()
    if weights is not None:
        learner.model.load_state_dict(weights)
        learner.target_critics.load_state_dict(learner.model.critics.state_dict())
    _, metrics = amago_loss(learner.model, learner.target_critics, learner.twohot, learner.popart, batch, cfg.loss,
                            torch.Generator().manual_seed(0))
    return learner, metrics


@HEADS
def test_online_term_is_the_dep_actor_in_units_of_the_target_spread(shapes, head):
    """Ind. actor with bc_weight 0 and online_weight w is w x the Dep. actor's loss divided by the
    batch's spread of TD targets (one discount here, so one spread); the default (online 0, BC 1)
    is the filtered BC loss unchanged."""
    one = dataclasses.replace(_model(head), gammas=(0.99,), act_gamma=0.99)
    batch, _ = _batch(shapes)
    base = AgentConfig(model=one, loss=LossConfig(actor="ind"))
    learner, bc = _actor_loss(base, shapes, batch)
    weights = {k: v.clone() for k, v in learner.model.state_dict().items()}
    _, dep = _actor_loss(AgentConfig(model=one, loss=LossConfig(actor="dep")), shapes, batch, weights)
    _, online = _actor_loss(AgentConfig(model=one, loss=LossConfig(actor="ind", bc_weight=0.0, online_weight=2.0)), shapes,
                            batch, weights)
    _, both = _actor_loss(AgentConfig(model=one, loss=LossConfig(actor="ind", bc_weight=1.0, online_weight=2.0)), shapes,
                          batch, weights)
    assert online["loss/actor"] != pytest.approx(0.0)
    assert math.isnan(online["actor/filtered_frac"])
    # the spread: recompute the targets' std from the metrics' own loss ratio and check its sign and size
    ratio = online["loss/actor"] / (2.0 * dep["loss/actor"])
    assert 0 < ratio < 1.0  # rewards ~ N(0, 100^2): a spread well above 1 shrinks the term
    assert both["loss/actor"] == pytest.approx(bc["loss/actor"] + online["loss/actor"], rel=1e-5)
    assert both["loss/critic"] == pytest.approx(bc["loss/critic"]) and dep["loss/critic"] == pytest.approx(bc["loss/critic"])


@pytest.mark.parametrize("shapes", [DISCRETE, CONTINUOUS], ids=["discrete", "continuous"])
def test_online_term_moves_only_the_policy(shapes):
    """The online term reaches the actor head (and, as BC does, the encoder through pi) but no
    critic parameter: the critics are frozen inside it."""
    head = "per-action" if shapes.discrete else "action-input"
    cfg = AgentConfig(model=_model(head), loss=LossConfig(actor="ind", bc_weight=0.0, online_weight=1.0, critic_weight=0.0))
    learner = Learner(cfg, shapes, seed=1)
    batch, _ = _batch(shapes, lengths=(10, 10, 10))
    _, grads = _loss_and_grads(learner, batch, seed=0)
    actor = [n for n in grads if n.startswith("actor.")]
    assert actor and all(float(grads[n].abs().sum()) > 0 for n in actor)
    assert all(float(grads[n].abs().sum()) == 0 for n in grads if n.startswith("critics."))


@pytest.mark.parametrize("loss,match", [(dict(actor="dep", online_weight=1.0), "apply to actor"),
                                        (dict(bc_weight=0.0), "both 0"), (dict(online_weight=-1.0), ">= 0")])
def test_online_and_bc_weights_are_validated(loss, match):
    from amago_bench.agents.amago2.config import validate

    with pytest.raises(ConfigError, match=match):
        validate(AgentConfig(model=TINY, loss=LossConfig(**loss)))


@pytest.mark.parametrize("shapes", [DISCRETE, CONTINUOUS], ids=["discrete", "continuous"])
def test_min_ensemble_is_clipped_double_q(shapes):
    """ensemble = "min": the TD target takes the lowest of its target critics and the online term
    the lowest critic; with one target critic and one critic the two rules agree."""
    head = "per-action" if shapes.discrete else "action-input"
    batch, _ = _batch(shapes)
    out = {}
    for critics, targets in ((4, 2), (1, 1)):
        model = dataclasses.replace(_model(head), critics=critics)
        first = AgentConfig(model=model, loss=LossConfig(critic="dep", actor="dep", target_critics=targets))
        weights = Learner(first, shapes, seed=0).model.state_dict()  # before PopArt rescales any output layer
        _, mean = _actor_loss(first, shapes, batch, weights)
        _, low = _actor_loss(dataclasses.replace(first, loss=dataclasses.replace(first.loss, ensemble="min")), shapes,
                             batch, weights)
        out[critics] = mean, low
    mean, low = out[4]
    assert low["value/target_mean"] < mean["value/target_mean"]  # min of 2 below their mean (same picks, same a')
    assert low["loss/actor"] > mean["loss/actor"]  # -min_c Q above -mean_c Q
    mean, low = out[1]
    assert low["value/target_mean"] == pytest.approx(mean["value/target_mean"])
    assert low["loss/actor"] == pytest.approx(mean["loss/actor"])


def test_target_actor_follows_the_actor_slowly_and_picks_the_next_actions():
    cfg = AgentConfig(model=TINY, loss=LossConfig(tau=0.1, target_actor=True), optim=OptimConfig(lr=1e-2, warmup=1))
    learner = Learner(cfg, CONTINUOUS, seed=0)
    assert Learner(AgentConfig(model=TINY), CONTINUOUS, seed=0).target_actor is None  # off by default
    batch, _ = _batch(CONTINUOUS)

    def target_mean(actor) -> float:
        learner.model.eval()  # the encoder is stochastic in training mode
        _, m = amago_loss(learner.model, learner.target_critics, learner.twohot, learner.popart, batch, cfg.loss,
                          torch.Generator().manual_seed(0), actor)
        return m["value/target_mean"]

    assert target_mean(learner.target_actor) == target_mean(None)  # a fresh copy picks what the actor picks
    before = [p.clone() for p in learner.target_actor.parameters()]
    learner.update(batch)
    for t0, t1, p in zip(before, learner.target_actor.parameters(), learner.model.actor.parameters()):
        assert float((p.detach() - t0).abs().max()) > 1e-3  # the actor moved, so the check below can fail
        assert torch.allclose(t1, 0.9 * t0 + 0.1 * p.detach(), atol=1e-6)
    assert target_mean(learner.target_actor) != target_mean(None)  # the lagging copy picks other actions
    again = Learner(cfg, CONTINUOUS, seed=1)
    again.load_state_dict(learner.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(again.target_actor.parameters(), learner.target_actor.parameters()))


def test_tanh_std_maps_any_output_smoothly_into_the_bounds():
    from amago_bench.agents.amago2.model import LOG_STD_MAX, LOG_STD_MIN, ActorHead

    smooth = ActorHead(16, CONTINUOUS, dataclasses.replace(TINY, actor_std="tanh"))
    plain = ActorHead(16, CONTINUOUS, TINY)
    plain.load_state_dict(smooth.state_dict())  # same weights, two mappings
    h = torch.randn(4, 16) * torch.tensor([0.0, 1.0, 100.0, -100.0])[:, None]  # zero, moderate and huge outputs
    h.requires_grad_(True)
    out, raw = smooth(h), plain(h)
    assert torch.equal(out[..., 0], raw[..., 0])  # the mean is untouched
    expected = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(raw[..., 1]) + 1)
    assert torch.allclose(out[..., 1], expected)
    assert float(out[..., 1].detach().min()) >= LOG_STD_MIN and float(out[..., 1].detach().max()) <= LOG_STD_MAX
    out[1, ..., 1].sum().backward()
    assert float(h.grad[1].abs().sum()) > 0  # inside the bounds: a gradient reaches the input


def test_bc_action_clip_sets_the_likelihood_of_saturated_actions():
    from amago_bench.agents.amago2.config import validate
    from amago_bench.agents.amago2.model import log_prob

    params = torch.zeros(1, 1, 2, 2)  # one gamma, 2 action dims, mean 0, log std 0
    saturated = torch.ones(1, 2)
    loose, tight = log_prob(params, saturated, False, 0.999), log_prob(params, saturated, False, 0.99)
    # log N(atanh(c); 0, 1) - log(1 - c^2) per dim, summed
    for c, lp in ((0.999, loose), (0.99, tight)):
        per_dim = -0.5 * math.atanh(c) ** 2 - 0.5 * math.log(2 * math.pi) - math.log(1 - c * c + 1e-6)
        assert float(lp) == pytest.approx(2 * per_dim, rel=1e-4)
    with pytest.raises(ConfigError, match="bc_action_clip must be in"):
        validate(AgentConfig(model=TINY, loss=LossConfig(bc_action_clip=1.0)))


def test_continuous_policy_metrics_are_in_their_ranges():
    batch, _ = _batch(CONTINUOUS)
    _, m = _actor_loss(AgentConfig(model=TINY), CONTINUOUS, batch)
    assert 0.0 <= m["actor/mean_abs"] <= 1.0
    assert math.exp(-5) <= m["actor/std"] <= math.exp(2)
    _, d = _actor_loss(AgentConfig(model=TINY), DISCRETE, _batch(DISCRETE)[0])
    assert "actor/std" not in d and "actor/mean_abs" not in d


@pytest.mark.parametrize("head", ["per-action", "action-input"])
def test_exact_expectation_is_the_limit_of_sampled_actions(head):
    """expectation = "exact" (discrete actions): the TD target's E_{a'~pi} Q(h', a') and the actor's
    baseline are sums over every action weighted by pi. So the exact loss draws nothing (the same
    under any generator, with every target critic in the target), and the sampled TD target,
    averaged over many draws, converges to it. Rewards are zeroed and the actor's and critics'
    output layers scaled up, so the target is gamma x E_pi Q alone, with a peaked pi and actions
    whose values differ (a wrong weighting would not average out)."""
    model = dataclasses.replace(_model(head), critics=2)
    batch, _ = _batch(DISCRETE)
    batch = dataclasses.replace(batch, reward=torch.zeros_like(batch.reward))
    runs = {}
    for how in ("sample", "exact"):
        cfg = AgentConfig(model=model, loss=LossConfig(target_critics=2, expectation=how))
        learner = Learner(cfg, DISCRETE, seed=0)
        learner.model.eval()
        with torch.no_grad():
            learner.model.actor.net[-1].weight.mul_(30.0)
            learner.model.critics.out.weight.mul_(30.0)
            learner.target_critics.load_state_dict(learner.model.critics.state_dict())
        runs[how] = [amago_loss(learner.model, learner.target_critics, learner.twohot, learner.popart, batch, cfg.loss,
                                torch.Generator().manual_seed(s))[1] for s in range(400 if how == "sample" else 2)]
    exact = runs["exact"][0]
    assert runs["exact"][1] == exact  # no draws
    sampled = np.array([m["value/target_mean"] for m in runs["sample"]])
    spread = sampled.std() / math.sqrt(len(sampled))
    assert sampled.std() > 1e-3 * abs(exact["value/target_mean"])  # the draws do matter here...
    assert abs(sampled.mean() - exact["value/target_mean"]) < 4 * spread  # ...and average to the exact sum
    assert exact["loss/critic"] != pytest.approx(runs["sample"][0]["loss/critic"])


def test_exact_expectation_has_no_effect_with_continuous_actions():
    batch, _ = _batch(CONTINUOUS)
    out = {}
    for how in ("sample", "exact"):
        cfg = AgentConfig(model=TINY, loss=LossConfig(expectation=how))
        learner = Learner(cfg, CONTINUOUS, seed=0)
        out[how] = amago_loss(learner.model, learner.target_critics, learner.twohot, learner.popart, batch, cfg.loss,
                              torch.Generator().manual_seed(0))[1]
    assert out["sample"] == out["exact"]
