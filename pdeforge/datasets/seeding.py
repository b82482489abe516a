"""Per-sample seeds: any sample can be regenerated alone, by any worker, in any order.

Sample ``i`` of split ``s`` of configuration ``c`` under master seed ``m`` draws all its
randomness from::

    numpy.random.SeedSequence(entropy=m, spawn_key=(*key32(c), SPLIT_IDS[s], i))

where ``key32(c)`` is the first four little-endian 32-bit words of sha256(c). The spawn key
makes the streams of different (config, split, index) statistically independent (SeedSequence
hashes the spawn key into the pool), and because nothing depends on which worker or in which
order a sample is drawn, output is bit-identical for 1 or N workers and across reruns. Adding a
new split (e.g. ``val``) or changing a split's size never changes another sample's stream.
Families split a sample's sequence further with ``SeedSequence.spawn`` (e.g. field vs RHS).

Reserved stream ``"online"`` (id 3): the seeds of samples that online training
(:mod:`pdeforge.baselines.online`) solves and streams into memory without ever storing them.
It is never a stored split, so by construction no online sample shares a seed with a train,
val or test sample, and sample ``i`` of the online stream is exactly what
``Family.generate(card, config, "online", i, i + 1)`` returns -- the same code path as a stored
split, only another split id in the spawn key.
"""

from __future__ import annotations

import hashlib

import numpy as np

#: Stable split identifiers (never renumber: they are part of every sample's seed).
SPLIT_IDS = {"train": 0, "test": 1, "val": 2, "online": 3}
#: the reserved split name of the online-training stream (never written to disk)
ONLINE_SPLIT = "online"


def key32(text: str) -> tuple[int, ...]:
    """Four 32-bit words from sha256(text): a platform-independent key for a name."""
    digest = hashlib.sha256(text.encode()).digest()
    return tuple(int.from_bytes(digest[4 * i : 4 * i + 4], "little") for i in range(4))


def sample_seedseq(master_seed: int, config: str, split: str, index: int) -> np.random.SeedSequence:
    """The SeedSequence of one sample (see module docstring)."""
    if split not in SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; known splits: {', '.join(SPLIT_IDS)}")
    return np.random.SeedSequence(
        entropy=int(master_seed), spawn_key=(*key32(config), SPLIT_IDS[split], int(index))
    )
