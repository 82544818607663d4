"""The per-sample walk of a channel game through a chain network, incrementally.

A coalition of channels over several layers (or of one layer whose read-out is not additive) costs a forward pass
of the network after the players on the plain path. A permutation walk, though, adds one player at a time, and
where the network after the first mask point is a chain (each module reads only the one before it) of linear
modules (convolutions, linear layers) and modules that act element by element or window by window (batch norm in
eval mode, ReLU, max pooling, flatten, dropout in eval mode), adding a player changes little:

- its stage's pre-activations (the output of the linear module that reads the player) change by the player's
  columns of that module's matrix times the player's inputs: a few multiply-adds per output, not a convolution;
- each later stage's input changes only where the element-wise and pooling modules pass the change on (a ReLU that
  stays at 0, a pooling window whose maximum stays put), and its pre-activations change by those inputs' columns.

:class:`Chain` holds every linear module of the chain as a dense matrix (found by applying the module to the unit
vectors of its input, so any convolution's stride, padding, dilation and groups are what the module computes),
every element-wise module as its per-element scale and shift (found by probing, and checked on a random input),
and every max pooling as a table of its windows; the compiled walk keeps, for each sample walking a permutation,
every stage's input and pre-activations, and writes the logits of every prefix. The game's measure turns the
logits into per-sample values (``Measure.row_values``), as on the plain row path, so the walk serves every measure.

It applies where the dense matrices are small (a small image's network: :data:`MAX_DENSE`); the game checks the
walk against the plain evaluation once before using it (``_NetworkGame._check_walk``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numba
import numpy as np
import torch
from numba import njit, prange
from torch import nn

from svprune.kernels import FASTMATH

MAX_DENSE = 1 << 22
"""Most entries of the chain's dense matrices together (16 MiB in float32); a larger network walks the plain rows."""

AFFINE, RELU, POOL = 0, 1, 2
_LINEAR = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_AFFINE = (nn.modules.batchnorm._BatchNorm,)
_SAME = (nn.Flatten, nn.Identity, nn.Dropout, nn.Unflatten)
_POOL = (nn.MaxPool1d, nn.MaxPool2d)


class NotAChain(Exception):
    """The network after the players is not a chain the incremental walk can follow; the message says why."""


@dataclass
class Chain:
    """A chain network after the players, flattened for the compiled walk. Stage s: input of ``d_off[s + 1] -
    d_off[s]`` elements, a linear map to ``e_off[s + 1] - e_off[s]`` pre-activations (``a_t``: its transposed dense
    matrix, row j = column j, from ``a_off[s]``; ``bias``), then the element-wise and pooling operations ``ops``
    (rows: stage, code, offset, size) whose output is stage s + 1's input; the last stage's pre-activations are the
    logits. ``static``: 1 for the stage inputs no player owns; player p owns ``p_el[p_off[p]:p_off[p + 1]]`` of the
    inputs of stage ``p_stage[p]`` (flat indices into the concatenated inputs). An ``ops`` row is (stage, code,
    offset, width, outputs): an affine map's scale and shift from ``offset``; a max pooling's windows of ``width``
    inputs from ``offset`` of ``table``, ``outputs`` of them. ``frontier``: every sample's input
    to stage 0, in the game's label order."""

    a_t: np.ndarray
    a_off: np.ndarray
    bias: np.ndarray
    e_off: np.ndarray
    d_off: np.ndarray
    ops: np.ndarray
    scale: np.ndarray
    shift: np.ndarray
    table: np.ndarray
    static: np.ndarray
    p_stage: np.ndarray
    p_el: np.ndarray
    p_off: np.ndarray
    frontier: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.e_off[-1] - self.e_off[-2])

    def walk(self, perms: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """The logits of every proper non-empty prefix: out[k, p, t - 1, v] for the first t players of
        ``perms[k, p]`` on sample ``samples[k, v]``, (K, P, n - 1, V, classes), float32. Indices the compiled walk
        would read out of range are refused here; that each row is a permutation (no player twice) is the caller's
        to check (``kernels.check_permutations``, or permutations it drew)."""
        perms = np.ascontiguousarray(perms, dtype=np.int64)
        samples = np.ascontiguousarray(samples, dtype=np.int64)
        units, count, n = perms.shape
        if samples.shape != (units, LANES):
            raise ValueError(f"samples must be ({units}, {LANES}): the samples of each unit's lanes")
        if n != len(self.p_stage) or (perms.size and (perms.min() < 0 or perms.max() >= n)):
            raise ValueError(f"perms must hold orders of the {len(self.p_stage)} players; got shape {perms.shape}")
        if samples.size and (samples.min() < 0 or samples.max() >= len(self.frontier)):
            raise ValueError(f"samples must index the {len(self.frontier)} samples")
        out = np.empty((units, count, max(n - 1, 0), LANES, self.n_classes), np.float32)
        if n > 1 and count:
            _walk(self.frontier, self.a_t, self.a_off, self.bias, self.e_off, self.d_off, self.ops, self.scale,
                  self.shift, self.table, self.static, self.p_stage, self.p_el, self.p_off, perms, samples, out,
                  numba.get_num_threads())
        return out


def _probe(shape: tuple) -> torch.Tensor:
    """A random input of one sample (float64, the same draw every time) on which a module's reading is checked."""
    return torch.randn((1, *shape), dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def _dense(module: nn.Module, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """A linear module as (A^T, bias) on flattened inputs of ``shape``: row j of A^T is the response to unit
    vector j."""
    size = int(np.prod(shape))
    zero = module(torch.zeros((1, *shape), dtype=torch.float64)).reshape(-1)
    basis = torch.eye(size, dtype=torch.float64).reshape(size, *shape)
    a_t = module(basis).reshape(size, -1) - zero[None, :]
    return a_t.numpy(), zero.numpy()


def _affine(module: nn.Module, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """An element-wise affine module (batch norm in eval mode) as per-element scale and shift, checked on a random
    input."""
    zero = module(torch.zeros((1, *shape), dtype=torch.float64)).reshape(-1)
    scale = module(torch.ones((1, *shape), dtype=torch.float64)).reshape(-1) - zero
    probe = _probe(shape)
    if not torch.allclose(module(probe).reshape(-1), probe.reshape(-1) * scale + zero, rtol=1e-9, atol=1e-9):
        raise NotAChain(f"{type(module).__name__} is not element-wise affine")
    return scale.numpy(), zero.numpy()


def _windows(module: nn.Module, shape: tuple) -> np.ndarray:
    """A max pooling's windows: (outputs, window) flat input indices, -1 for padding; checked on a random input."""
    if getattr(module, "ceil_mode", False) or getattr(module, "return_indices", False):
        raise NotAChain("max pooling with ceil_mode or return_indices")
    two_d = isinstance(module, nn.MaxPool2d)
    index = torch.arange(int(np.prod(shape)), dtype=torch.float64).reshape(1, *shape) + 1  # 0: padding
    if not two_d:
        index = index.unsqueeze(-2)

    def pair(v, dummy: int) -> tuple:  # a 1-d pooling's parameters on a dummy axis of length 1
        return tuple(v) if isinstance(v, (tuple, list)) else ((v, v) if two_d else (dummy, v))

    kernel = pair(module.kernel_size, 1)
    stride = pair(module.stride if module.stride is not None else module.kernel_size, 1)
    padding, dilation = pair(module.padding, 0), pair(module.dilation, 1)
    windows = torch.nn.functional.unfold(index, kernel, dilation=dilation, padding=padding, stride=stride)
    channels, k = shape[0], kernel[0] * kernel[1]
    table = windows.reshape(channels, k, -1).permute(0, 2, 1).reshape(-1, k).long() - 1
    probe = _probe(shape)
    flat = torch.cat([probe.reshape(-1), torch.tensor([-torch.inf], dtype=torch.float64)])
    mine = flat[torch.where(table >= 0, table, len(flat) - 1)].max(1).values
    if not torch.equal(mine, module(probe).reshape(-1)):
        raise NotAChain("a max pooling whose windows could not be reproduced")
    return table.numpy()


def chain_of(suffix, frontier: torch.Tensor, owners: list[dict[str, np.ndarray]], consumers: dict[str, str]) -> Chain:
    """The chain of a traced suffix (``svprune.games.module._Suffix``) whose one frontier value is ``frontier``
    (samples first). ``owners[p]``: for player p, its mask point (the module whose input it masks) and the flat
    input elements it zeroes there; ``consumers``: node name -> mask point, for the masked nodes. Raises
    :class:`NotAChain`, saying why, where the network is not such a chain."""
    if len(suffix.frontier) != 1:
        raise NotAChain(f"the players' layers read {len(suffix.frontier)} cached values, not one")
    prev = suffix.frontier[0].name
    x = frontier[:1].double()
    stages: list[dict] = []
    dense = 0
    with torch.no_grad():
        for node in suffix.suffix:
            inputs = node.all_input_nodes
            if node.op != "call_module" or len(inputs) != 1 or inputs[0].name != prev or node.kwargs:
                raise NotAChain(f"{node.name} is not a module reading only the one before it")
            module = copy.deepcopy(suffix.modules[node.target]).double()  # probed in float64, the model untouched
            shape = tuple(x.shape[1:])
            y = module(x)
            if isinstance(module, _LINEAR):
                dense += int(np.prod(shape)) * int(np.prod(y.shape[1:]))
                if dense > MAX_DENSE:  # before any matrix is built
                    raise NotAChain(f"its dense matrices would hold more than {MAX_DENSE:,} entries")
                a_t, bias = _dense(module, shape)
                stages.append({"a_t": a_t, "bias": bias, "in": int(np.prod(shape)), "ops": [],
                               "mask": consumers.get(node.name)})
            elif node.name in consumers:
                raise NotAChain(f"the players are read by {node.name}, not a linear module")
            elif not stages:
                raise NotAChain(f"{node.name} comes before the first linear module")
            elif isinstance(module, _AFFINE):
                stages[-1]["ops"].append((AFFINE, *_affine(module, shape)))
            elif isinstance(module, nn.ReLU):
                stages[-1]["ops"].append((RELU,))
            elif isinstance(module, _POOL):
                stages[-1]["ops"].append((POOL, _windows(module, shape)))
            elif not isinstance(module, _SAME):
                raise NotAChain(f"{node.name} ({type(module).__name__}) is neither linear, element-wise nor pooling")
            x, prev = y, node.name
        if suffix.output.args[0] is None or getattr(suffix.output.args[0], "name", None) != prev or not stages:
            raise NotAChain("the logits are not the last module's output")
        if stages[-1]["ops"]:
            raise NotAChain("the last linear module's output is changed before it becomes the logits")
    sizes = [int(s["a_t"].size) for s in stages]
    d = np.cumsum([0] + [s["in"] for s in stages])
    e = np.cumsum([0] + [s["a_t"].shape[1] for s in stages])
    ops, scale, shift, table = [], [np.zeros(0)], [np.zeros(0)], [np.zeros(0, np.int64)]
    f_off, t_off = 0, 0
    for k, stage in enumerate(stages[:-1]):
        size = stage["a_t"].shape[1]
        for op in stage["ops"]:
            if op[0] == AFFINE:
                ops.append((k, AFFINE, f_off, size, size))
                scale.append(op[1])
                shift.append(op[2])
                f_off += size
            elif op[0] == RELU:
                ops.append((k, RELU, 0, size, size))
            else:
                windows = op[1]
                if len(windows) and windows.max() >= size:
                    raise NotAChain("a pooling window reaches past its input")
                ops.append((k, POOL, t_off, windows.shape[1], len(windows)))
                table.append(windows.reshape(-1))
                t_off += windows.size
                size = len(windows)
        if size != stages[k + 1]["in"]:
            raise NotAChain(f"stage {k + 1} reads {stages[k + 1]['in']} values where stage {k} gives {size}")
    where = {s["mask"]: k for k, s in enumerate(stages) if s["mask"] is not None}
    static = np.ones(d[-1], np.float32)
    p_stage, p_el = [], []
    for owner in owners:
        if len(owner) != 1:
            raise NotAChain(f"a player is masked at {len(owner)} points")
        (point, elements), = owner.items()
        stage = where.get(point)
        if stage is None:
            raise NotAChain(f"a player's mask point {point} is not a linear module of the chain")
        flat = d[stage] + np.asarray(elements, dtype=np.int64)
        if (static[flat] == 0).any():
            raise NotAChain("two players zero the same input")
        static[flat] = 0
        p_stage.append(stage)
        p_el.append(flat)
    return Chain(
        a_t=np.concatenate([s["a_t"].astype(np.float32).reshape(-1) for s in stages]),
        a_off=np.cumsum([0] + sizes).astype(np.int64), bias=np.concatenate([s["bias"] for s in stages]).astype(np.float32),
        e_off=e.astype(np.int64), d_off=d.astype(np.int64),
        ops=np.array(ops, dtype=np.int64).reshape(-1, 5), scale=np.concatenate(scale).astype(np.float32),
        shift=np.concatenate(shift).astype(np.float32), table=np.concatenate(table).astype(np.int64),
        static=static, p_stage=np.array(p_stage, dtype=np.int64),
        p_el=np.concatenate(p_el or [np.zeros(0, np.int64)]).astype(np.int64),
        p_off=np.cumsum([0] + [len(e) for e in p_el]).astype(np.int64),
        frontier=np.ascontiguousarray(frontier.reshape(len(frontier), -1).float().numpy()),
    )


LANES = 8
"""Samples that walk one permutation together (a unit of the per-sample walk, ``svprune.kernels.UNIT``): every step
updates the lanes of a stage's values at once, so the matrices' rows are read once per unit and the updates
vectorise over the lanes."""


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _post(stage, pre, e_off, ops, scale, shift, table, buf, tmp):  # pragma: no cover - compiled
    """Stage ``stage``'s element-wise and pooling operations on its pre-activations (rows: elements, columns: the
    lanes); returns the output's size (the output is in ``buf``)."""
    size = e_off[stage + 1] - e_off[stage]
    base = e_off[stage]
    for i in range(size):
        for v in range(LANES):
            buf[i, v] = pre[base + i, v]
    for r in range(ops.shape[0]):
        if ops[r, 0] != stage:
            continue
        code, off, width = ops[r, 1], ops[r, 2], ops[r, 3]
        if code == AFFINE:
            for i in range(size):
                a, b = scale[off + i], shift[off + i]
                for v in range(LANES):
                    buf[i, v] = buf[i, v] * a + b
        elif code == RELU:
            for i in range(size):
                for v in range(LANES):
                    buf[i, v] = max(buf[i, v], np.float32(0.0))
        else:  # POOL
            outs = ops[r, 4]
            for o in range(outs):
                for v in range(LANES):
                    tmp[o, v] = np.float32(-3.0e38)
                for w in range(width):
                    j = table[off + o * width + w]
                    if j >= 0:
                        for v in range(LANES):
                            tmp[o, v] = max(tmp[o, v], buf[j, v])
            for o in range(outs):
                for v in range(LANES):
                    buf[o, v] = tmp[o, v]
            size = outs
    return size


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _update(pre, base, a_t, row, values, width):  # pragma: no cover - compiled
    """pre[base + i, v] += a_t[row + i] * values[v]: one row of a matrix into every lane."""
    for i in range(width):
        a = a_t[row + i]
        for v in range(LANES):
            pre[base + i, v] += a * values[v]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _walk(frontier, a_t, a_off, bias, e_off, d_off, ops, scale, shift, table, static, p_stage, p_el, p_off, perms,
          samples, out, threads):  # pragma: no cover - compiled
    units, count, n = perms.shape
    stages = len(e_off) - 1
    jobs = units * count
    threads = max(1, min(threads, jobs))
    widest = 1
    for s in range(stages):
        widest = max(widest, e_off[s + 1] - e_off[s])
    for thread in prange(threads):
        x = np.empty((d_off[stages], LANES), np.float32)  # every stage's input, unmasked, per lane
        mask = np.empty(d_off[stages], np.float32)  # the coalition: the same for every lane
        pre = np.empty((e_off[stages], LANES), np.float32)
        buf = np.empty((widest, LANES), np.float32)
        tmp = np.empty((widest, LANES), np.float32)
        change = np.empty(LANES, np.float32)
        for job in range(thread, jobs, threads):
            k, p = job // count, job % count
            # the empty coalition, stage by stage
            for j in range(d_off[1]):
                for v in range(LANES):
                    x[j, v] = frontier[samples[k, v], j]
            for j in range(d_off[stages]):
                mask[j] = static[j]
            for s in range(stages):
                width = e_off[s + 1] - e_off[s]
                for i in range(width):
                    for v in range(LANES):
                        pre[e_off[s] + i, v] = bias[e_off[s] + i]
                for j in range(d_off[s + 1] - d_off[s]):
                    if mask[d_off[s] + j] != 0:
                        _update(pre, e_off[s], a_t, a_off[s] + j * width, x[d_off[s] + j], width)
                if s + 1 < stages:
                    size = _post(s, pre, e_off, ops, scale, shift, table, buf, tmp)
                    for j in range(size):
                        for v in range(LANES):
                            x[d_off[s + 1] + j, v] = buf[j, v]
            for t in range(n - 1):
                player = perms[k, p, t]
                s = p_stage[player]
                width = e_off[s + 1] - e_off[s]
                for q in range(p_off[player], p_off[player + 1]):
                    j = p_el[q]
                    if mask[j] == 0:
                        mask[j] = 1
                        _update(pre, e_off[s], a_t, a_off[s] + (j - d_off[s]) * width, x[j], width)
                for s2 in range(s + 1, stages):
                    size = _post(s2 - 1, pre, e_off, ops, scale, shift, table, buf, tmp)
                    width = e_off[s2 + 1] - e_off[s2]
                    for j in range(size):
                        at = d_off[s2] + j
                        moved = False
                        for v in range(LANES):
                            change[v] = buf[j, v] - x[at, v]
                            moved |= change[v] != 0
                        if moved:
                            for v in range(LANES):
                                x[at, v] = buf[j, v]
                            if mask[at] != 0:
                                _update(pre, e_off[s2], a_t, a_off[s2] + j * width, change, width)
                last = e_off[stages - 1]
                for c in range(e_off[stages] - last):
                    for v in range(LANES):
                        out[k, p, t, v, c] = pre[last + c, v]
