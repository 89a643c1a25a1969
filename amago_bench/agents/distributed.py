"""Data-parallel training: one agent trained by several processes with PyTorch's
DistributedDataParallel (DDP), launched by torchrun.

    torchrun --standalone --nproc-per-node N -m amago_bench train --suite S --agent A ...
    amago-bench train --ddp ...          one rank: the DDP code path in a process group of one

A process started by torchrun (``TORCHELASTIC_RUN_ID`` and ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
set), or given ``--ddp``, joins a process group: gloo on the CPU, nccl on CUDA, where rank r
trains on ``cuda:LOCAL_RANK``. Without either, nothing here is imported and training runs in one
process with no wrapper, as it always has.

What N ranks train is the run one process would train, split N ways:

    actors      each rank steps ``num_envs / N`` actors with its own env seeds;
    updates     each rank samples ``batch / N`` of every update's batch (amago2) or updates on
                its own segments (RL^2-PPO), and DDP all-reduces (averages) the gradients in the
                backward pass, so every rank takes the same optimiser step;
    counters    env steps are counted over all ranks; the budget (epochs, env steps, updates)
                and so the results-store comparability key are the config's, whatever N;
    records     rank 0 alone writes the checkpoint, ``progress.json``, ``metrics.csv``,
                TensorBoard and the results database (the other ranks never open it), and alone
                evaluates; the others wait for it at their next collective.

The model is not wrapped: the learner wraps a module whose forward computes the loss (the model
is its one submodule), since DDP all-reduces the gradients of the parameters used inside its
forward. Statistics that move weights outside the gradient (amago2's PopArt, which rescales the
critics' output layers) are summed over ranks with :meth:`Ranks.all_sum` so weights stay equal.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any, Iterator

from amago_bench.errors import UserError

TIMEOUT = datetime.timedelta(hours=2)
"""How long a rank waits at a collective before the run fails: the other ranks wait for rank 0's
evaluations (one evaluation round must take less) and checkpoint writes."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes training one agent."""

    rank: int = 0
    """This process's rank, 0..world-1 (torchrun's ``RANK``)."""
    world: int = 1
    """The number of ranks (torchrun's ``WORLD_SIZE``)."""
    local_rank: int = 0
    """The rank on this node (torchrun's ``LOCAL_RANK``): the CUDA device index of a CUDA rank."""
    distributed: bool = False
    """Whether a process group is joined (the loss runs through DDP), even with one rank."""
    device: str | None = None
    """The torch device of this rank when distributed (``cpu`` or ``cuda:LOCAL_RANK``); else None
    (the trainer picks it from ``--device``)."""

    @property
    def main(self) -> bool:
        """Rank 0: the one that evaluates and writes every file and record of the run."""
        return self.rank == 0

    def share(self, total: int, what: str) -> int:
        """This rank's share of ``total`` (a config's actors or batch, named ``what``), which N ranks
        split evenly; an uneven split is refused with the fix."""
        if total % self.world:
            ok = [n for n in range(1, total + 1) if total % n == 0]
            raise UserError(f"{what} = {total} cannot be split evenly over {self.world} ranks; run on a number of "
                            f"ranks that divides it ({', '.join(map(str, ok))}) or set {what} to a multiple of {self.world} "
                            f"in the agent config")
        return total // self.world

    def wrap(self, module: Any) -> Any:
        """``module`` in DistributedDataParallel when distributed, else ``module`` itself.

        Buffers are not broadcast at every forward: the models' buffers are constants or follow
        from the weights, which DDP keeps equal; they are made equal once, at construction."""
        if not self.distributed:
            return module
        import inspect

        from torch.nn.parallel import DistributedDataParallel

        # torch >= 2.12 names the switch forward_sync_buffers (broadcast_buffers warns there)
        new = "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
        return DistributedDataParallel(module, **{"forward_sync_buffers" if new else "broadcast_buffers": False})

    def all_sum(self, values: Any) -> Any:
        """The sum over ranks of the tensor ``values``, on the device ``values`` is on (a new tensor;
        ``values`` itself when not distributed). The reduction runs on this rank's device: nccl
        reduces CUDA tensors only."""
        if not self.distributed:
            return values
        import torch.distributed as dist

        out = values.detach().to(self.device, copy=True)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out.to(values.device)

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


SINGLE = Ranks()
"""One process, no process group: the default of every trainer."""


def launched_by_torchrun() -> bool:
    """Whether this process was started by torchrun (torch elastic sets ``TORCHELASTIC_RUN_ID``)."""
    return bool(os.environ.get("TORCHELASTIC_RUN_ID")) and "RANK" in os.environ and "WORLD_SIZE" in os.environ


def rank_seed(seed: int, rank: int, epoch: int) -> Any:
    """The seed of rank ``rank``'s generator (collection seeds, replay sampling) when it starts
    at epoch ``epoch``: rank 0 starting a run uses the run seed itself (so one rank draws what a
    plain run draws); rank 0 resuming restores its generator from the checkpoint instead; every
    other rank draws from ``SeedSequence((seed, rank, epoch))``, distinct per rank and per resume."""
    return seed if rank == 0 else [int(seed), int(rank), int(epoch)]


@contextlib.contextmanager
def data_parallel(ddp: bool = False, device: str | None = None) -> Iterator[Ranks]:
    """The :class:`Ranks` of this process for one training run: :data:`SINGLE` unless launched by
    torchrun or ``ddp``; then a process group (gloo on CPU, nccl on CUDA) joined for the block
    and left after it. ``ddp`` without torchrun: a group of one rank (an in-memory store, no port)."""
    if not ddp and not launched_by_torchrun():
        yield SINGLE
        return
    import torch
    import torch.distributed as dist

    from amago_bench.agents.device import pick_device

    if dist.is_initialized():
        raise UserError("a torch.distributed process group is already joined in this process; "
                        "train one data-parallel run per process (one torchrun launch per run)")
    torchrun = launched_by_torchrun()
    rank = int(os.environ["RANK"]) if torchrun else 0
    world = int(os.environ["WORLD_SIZE"]) if torchrun else 1
    local = int(os.environ.get("LOCAL_RANK", rank)) if torchrun else 0
    dev = pick_device(device)
    if dev.type == "cuda":
        if dev.index is not None and world > 1:
            raise UserError(f"--device {device} names one GPU, but {world} ranks train on one GPU each "
                            f"(rank r on cuda:LOCAL_RANK); give --device cuda (or auto), and pick GPUs with "
                            f"CUDA_VISIBLE_DEVICES")
        index = local if dev.index is None or world > 1 else dev.index
        if index >= torch.cuda.device_count():
            raise UserError(f"rank {rank} (local rank {local}) needs cuda:{index}, but this node has "
                            f"{torch.cuda.device_count()} GPUs; start at most that many ranks per node "
                            f"(--nproc-per-node)")
        dev = torch.device("cuda", index)
        torch.cuda.set_device(dev)
        backend = "nccl"
    elif dev.type == "cpu":
        backend = "gloo"
    else:
        raise UserError(f"data-parallel training runs on cpu (gloo) or cuda (nccl), not {dev}; use --device cpu or cuda")
    if torchrun:
        dist.init_process_group(backend, timeout=TIMEOUT)
    else:
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1, timeout=TIMEOUT)
    try:
        yield Ranks(rank=rank, world=world, local_rank=local, distributed=True, device=str(dev))
    finally:
        dist.destroy_process_group()


__all__ = ["Ranks", "SINGLE", "TIMEOUT", "data_parallel", "launched_by_torchrun", "rank_seed"]
