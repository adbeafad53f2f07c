"""One process of a real multi-process job that records which examples each global batch holds.

Started by tests/test_train_multiprocess.py as N processes:
`python multiprocess_data_check.py ADDRESS N INDEX OUT.json`. Every process
feeds its own shard's example ids through `JitMesh.put_batch` (the path of
training batches) and the gathered global arrays are written by process 0,
with the example count an evaluation of the uneven, padded split adds up.
"""
import json
import sys

import cnnlab  # noqa: F401
import jax
import numpy as np
from jax.experimental import multihost_utils

from cnnlab import data, tasks
from cnnlab.train import distributed, parallel
from cnnlab.train.state import TrainState

import flax.linen as nn


class Zeros(nn.Module):
    num_classes: int = 3

    @nn.compact
    def __call__(self, x, train: bool = False):
        bias = self.param("bias", nn.initializers.zeros, (self.num_classes,))
        return x.reshape((x.shape[0], -1))[:, :1] * 0 + bias


def main(address, count, index, out):
    distributed.initialize(address, int(count), int(index))
    cfg = {"name": "shapes", "storage": "memory", "variant": "classify", "num_classes": 3,
           "image_size": (16, 16), "num_train": 40, "num_validation": 22, "num_test": 8}
    par = parallel.JitMesh(Zeros(), tasks.create("classification", num_classes=3))
    result = {"processes": jax.process_count(), "devices": jax.device_count(), "train": [], "eval": []}
    for split, batch, train, key in (("train", 8, True, "train"), ("validation", 8, False, "eval")):
        ds = data.build(cfg, split, batch, train=train, seed=7, process_index=jax.process_index(),
                        process_count=jax.process_count())
        for epoch in (0, 1) if train else (0,):
            ids = ds.indices(epoch)  # (steps, local batch): this process's shard, -1 = padding
            batches = [multihost_utils.process_allgather(par.put_batch({"id": row})["id"], tiled=True)
                       for row in ids]
            result[key].append(np.stack([np.asarray(b) for b in batches]).tolist())
    # The eval step's example count over the padded split, summed across processes.
    state = TrainState(step=np.int32(0), params={"bias": np.zeros(3, np.float32)}, batch_stats={},
                       opt_state=(), rng=jax.random.PRNGKey(0), tx=None)
    state = par.put_state(state)
    ds = data.build(cfg, "validation", 8, train=False, seed=7, process_index=jax.process_index(),
                    process_count=jax.process_count())
    acc = None
    for batch in ds.epoch(0):
        sums = par.eval_step(state, par.put_batch(batch))
        acc = sums if acc is None else par.accumulate(acc, sums)
    result["eval_count"] = par.fetch(acc)["count"]
    if jax.process_index() == 0:
        with open(out, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:5])
