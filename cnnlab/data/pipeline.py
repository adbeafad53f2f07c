"""The Grain pipeline shared by every source: order, sharding, batching, padding.

A source gives random access to raw records plus a ``transform`` that turns
one raw record into a contract record (``image`` uint8 or float ``(H, W, C)``,
``label`` int, optionally ``boxes`` ``(N, 4)``, ``box_labels`` ``(N,)``,
``mask`` ``(H, W)``, and source-specific extras that pass through stacked).
:class:`Dataset` orders the indices, shards them per process, maps the
transform with Grain (threads prefetch ahead), and collates host batches:

- ``image`` float32 ``(B, H, W, C)`` in [0, 1]; ``label`` int32 ``(B,)``;
  ``boxes`` float32 ``(B, N, 4)``; ``box_labels`` int32 ``(B, N)``;
  ``mask`` int32 ``(B, H, W)``; ``valid`` bool ``(B,)`` (all True on train).

Order. The order of the *global* batches does not depend on how many
processes read them, so a run on 2 hosts sees the same global batches as a
run on 1 (and a checkpoint can resume on another process count). Train
epochs draw one permutation from ``(seed, epoch)`` (Grain's index shuffle)
and cut it into global batches of ``batch_size``, dropping the last partial
one; process ``p`` of ``P`` reads the ``p``-th contiguous slice of
``batch_size // P`` examples of every global batch, which is where
``jax.make_array_from_process_local_data`` puts it (devices are ordered by
process). Eval epochs do the same over the natural order and pad the last
global batch: every process runs the same number of batches (collectives
need that), and padding entries have ``valid=False``, zero images, label 0,
boxes and box labels -1 and mask 255 (ignore). Because the index list of an
epoch is a pure function of ``(seed, epoch)``, ``epoch(e, start_step=k)``
starts reading at batch ``k`` directly (a Grain slice), without touching
batches ``0..k-1``.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Iterator, Sequence

import numpy as np

BOX_PAD = -1.0  # boxes and box_labels of padding rows
MASK_IGNORE = 255  # mask value excluded from segmentation losses and metrics


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a model and a task need to know about a split.

    ``num_examples`` counts the whole split (all processes together).
    ``mask_class_names`` is empty unless batches carry a ``mask``; it lists
    the segmentation classes by mask value (``("background", ...)``).
    ``max_boxes`` is 0 unless batches carry ``boxes``/``box_labels``.
    ``extra_keys`` names source-specific batch keys (stacked, padded with zeros).
    """

    name: str
    split: str
    num_classes: int
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    num_examples: int
    mask_class_names: tuple[str, ...] = ()
    max_boxes: int = 0
    extra_keys: tuple[str, ...] = ()  # source-specific batch keys (e.g. "box_difficult")

    @property
    def num_mask_classes(self) -> int:
        return len(self.mask_class_names)

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys of every batch of this split."""
        keys = ("image", "label")
        if self.max_boxes:
            keys += ("boxes", "box_labels")
        if self.mask_class_names:
            keys += ("mask",)
        return keys + tuple(self.extra_keys) + ("valid",)


@dataclasses.dataclass(frozen=True)
class SplitSource:
    """Random-access raw records of one split, the transform to contract records, and its info.

    ``num_threads`` is the source's default count of Grain reader threads:
    threads pay off when records are read or decoded from disk (JPEG
    decoding releases the GIL) and cost throughput for in-memory arrays.
    """

    records: Sequence[Any]
    transform: Callable[[Any], dict]
    info: DatasetInfo
    num_threads: int = 2


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 32-bit shuffle seed for ``(seed, epoch)`` (Grain needs < 2**32)."""
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be >= 0, got seed={seed}, epoch={epoch}.")
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, np.uint32)[0])


class Dataset:
    """Batches of one split for one process, in a resumable order.

    Args:
      split_source: the split's records, transform and info.
      batch_size: global batch size over all processes; each process yields
        ``batch_size // process_count`` examples per batch.
      train: shuffle each epoch and drop the last partial batch (True), or
        keep the natural order and pad the last batch (False).
      seed: shuffle seed; the order is a pure function of (seed, epoch).
      process_index, process_count: this process's shard.
      num_threads: Grain reader threads that decode ahead (0 = inline).
    """

    def __init__(
        self,
        split_source: SplitSource,
        batch_size: int,
        *,
        train: bool,
        seed: int = 0,
        process_index: int = 0,
        process_count: int = 1,
        num_threads: int = 2,
    ):
        self._records = split_source.records
        self._transform = split_source.transform
        self.info = split_source.info
        self.train = bool(train)
        self.seed = int(seed)
        self.process_index = int(process_index)
        self.process_count = int(process_count)
        self.num_threads = int(num_threads)
        if self.process_count < 1 or not 0 <= self.process_index < self.process_count:
            raise ValueError(
                f"process_index={process_index} must lie in [0, process_count={process_count})."
            )
        if batch_size < 1 or batch_size % self.process_count:
            raise ValueError(
                f"batch_size={batch_size} must be a positive multiple of process_count="
                f"{self.process_count} (it is the global batch, split evenly over processes)."
            )
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}.")
        if self.num_threads < 0:
            raise ValueError(f"num_threads must be >= 0, got {num_threads}.")
        self.batch_size = int(batch_size)
        self.local_batch_size = self.batch_size // self.process_count
        n = len(self._records)
        if n == 0:
            raise ValueError(f"split {self.info.split!r} of {self.info.name!r} has no examples.")
        if self.train:
            self.steps_per_epoch = n // self.batch_size
            if self.steps_per_epoch == 0:
                raise ValueError(
                    f"split {self.info.split!r} of {self.info.name!r} has {n} examples, fewer than "
                    f"one training batch of {self.batch_size}: lower train.batch_size."
                )
        else:
            self.steps_per_epoch = -(-n // self.batch_size)  # the last global batch is padded

    def __len__(self) -> int:
        return self.steps_per_epoch

    def _index_dataset(self, epoch: int):
        """Grain MapDataset of this process's source indices for ``epoch``; -1 marks padding."""
        import grain

        n = len(self._records)
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}.")
        if self.train:
            order = grain.MapDataset.range(n).shuffle(seed=epoch_seed(self.seed, epoch))
        else:
            order = grain.MapDataset.range(n)
        big, local, offset = self.batch_size, self.local_batch_size, self.process_index * self.local_batch_size

        def global_index(i):  # i-th example of this process -> its place in the epoch's order
            position = (i // local) * big + offset + i % local
            return order[position] if position < n else -1

        return grain.MapDataset.range(self.steps_per_epoch * local).map(global_index)

    def indices(self, epoch: int) -> np.ndarray:
        """Source indices of this process's examples in ``epoch``, ``(steps, local_batch)``; -1 = padding."""
        order = self._index_dataset(epoch)
        return np.asarray([order[i] for i in range(len(order))], np.int64).reshape(
            self.steps_per_epoch, self.local_batch_size
        )

    def _load(self, index: int):
        return None if index < 0 else self._transform(self._records[index])

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Yields the batches ``start_step ..`` of ``epoch`` for this process."""
        import grain

        if not 0 <= start_step <= self.steps_per_epoch:
            raise ValueError(
                f"start_step={start_step} must lie in [0, steps_per_epoch={self.steps_per_epoch}]."
            )
        b = self.local_batch_size
        records = self._index_dataset(epoch).map(self._load)[start_step * b :]
        options = grain.ReadOptions(
            num_threads=self.num_threads,
            prefetch_buffer_size=2 * b if self.num_threads else 0,
        )
        batches = records.to_iter_dataset(options, allow_nones=True).batch(b, batch_fn=self._collate)
        return iter(batches)

    @functools.cached_property
    def _template(self) -> dict:
        """A padding record shaped like the split's records."""
        record = self._transform(self._records[0])
        pad = {key: np.zeros_like(np.asarray(value)) for key, value in record.items()}
        if "boxes" in pad:
            pad["boxes"] = np.full_like(pad["boxes"], BOX_PAD)
            pad["box_labels"] = np.full_like(pad["box_labels"], -1)
        if "mask" in pad:
            pad["mask"] = np.full(pad["mask"].shape, MASK_IGNORE, np.int32)
        return pad

    def _collate(self, items: Sequence[dict | None]) -> dict[str, np.ndarray]:
        valid = np.asarray([item is not None for item in items], bool)
        if not valid.all():
            items = [item if item is not None else self._template for item in items]
        batch = {}
        for key in items[0]:
            try:
                batch[key] = np.stack([np.asarray(item[key]) for item in items])
            except ValueError as error:
                shapes = sorted({tuple(np.shape(item[key])) for item in items})
                raise ValueError(
                    f"{self.info.name!r} records of one batch differ in {key!r} shape {shapes}: "
                    f"set data.image_size=(H, W) so every image is resized to one size."
                ) from error
        return finalize_batch(batch, valid)


def finalize_batch(batch: dict[str, np.ndarray], valid: np.ndarray) -> dict[str, np.ndarray]:
    """Casts a stacked batch to the contract dtypes and adds ``valid``."""
    image = batch["image"]
    if image.dtype == np.uint8:
        image = image.astype(np.float32) * np.float32(1.0 / 255.0)
    out = {"image": image.astype(np.float32, copy=False), "label": batch["label"].astype(np.int32)}
    if "boxes" in batch:
        out["boxes"] = batch["boxes"].astype(np.float32, copy=False)
        out["box_labels"] = batch["box_labels"].astype(np.int32)
    if "mask" in batch:
        out["mask"] = batch["mask"].astype(np.int32)
    for key, value in batch.items():  # source-specific extras (e.g. box_difficult) pass through
        out.setdefault(key, value)
    out["valid"] = valid
    return out
