"""Wire security: authenticated encryption and replay protection for every cluster datagram.

Theory of operation
-------------------
Every UDP datagram between nodes is ``header || ChaCha20-Poly1305(payload)``. The 26-byte header is sent in
clear (a receiver needs it to pick the key) but is the AEAD associated data, so changing any bit of it, or of
the ciphertext, makes authentication fail::

    magic "QR" | version u8 | flags u8 | cluster_id u16 | sender u32 | epoch u64 | counter u64

* ``epoch`` is the sender's boot epoch: strictly larger on every restart of that node (the daemon must persist
  it). ``counter`` starts at 1 for each (sender, epoch) and grows by one per datagram.
* The encryption key is a subkey derived with HKDF-SHA256 from the cluster key for each (cluster, sender,
  epoch); the nonce is the counter. A node never seals two datagrams with one counter in one epoch and never
  reuses an epoch, so a (key, nonce) pair is never used twice even though nodes keep no shared state.
* A receiver authenticates first and only then consults and updates the per-sender replay state: the highest
  epoch seen and a 128-counter sliding window in it. A forged datagram therefore cannot move the window
  (which would make genuine traffic look like a replay), and cannot evict cached subkeys either.
* A higher epoch from a sender means that it restarted: its window starts afresh. Anything from an older
  epoch is refused, so traffic recorded before a restart cannot be replayed after it.

Threat model: an attacker on the network segment without the cluster key can neither inject, alter nor
replay a datagram, nor read a payload, nor make a node speak for another one (the sender id is
authenticated; the membership layer takes it from here, not from the payload). Not protected: traffic
analysis (sizes, timing, who talks to whom and the node ids are visible), denial of service by flooding or
dropping packets, and anything a holder of the key does: every node holds the same key, so a compromised
node can impersonate any other. The replay state lives in memory: a receiver that restarts accepts, once,
recorded datagrams from its peers' current epochs; the membership protocol tolerates such duplicates.

Key rotation (`quorate.core.key_rotation`) gives the codec up to two keys to open with (the current one is tried
first, so the steady state costs one decryption) and one to seal with; the header does not say which key sealed
a datagram, trying both is what lets a node that still seals with the old key and one that already seals with the
new key hear each other. A *retired* key opens datagrams too, but they are never delivered as cluster traffic:
`open` raises `RetiredKeyDatagram` carrying the payload, which the shell only hands to the key-fetch handler.
A subkey per (key, sender, epoch) means sealing with another key in the same epoch never reuses a nonce.
"""

from __future__ import annotations

import hashlib
import struct
from collections import Counter, OrderedDict
from collections.abc import Collection, Iterable
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC: Final = b"QR"
# 2 since quorate 0.2: refusals carry a code and service inventories a sequence (0.1 nodes spoke 1).
VERSION: Final = 2
HEADER: Final = struct.Struct(">2sBBHIQQ")
HEADER_SIZE: Final = HEADER.size  # 26
TAG_SIZE: Final = 16
MAX_DATAGRAM: Final = 8192
MAX_PAYLOAD: Final = MAX_DATAGRAM - HEADER_SIZE - TAG_SIZE
MIN_KEY_BYTES: Final = 32
REPLAY_WINDOW: Final = 128
SUBKEY_CACHE: Final = 64

_SALT: Final = b"quorate wire protocol v1 subkey salt"
_INFO: Final = b"quorate-wire-v1"
_INFO_TAIL: Final = struct.Struct(">HIQ")
_NONCE: Final = struct.Struct(">4xQ")
_WINDOW_MASK: Final = (1 << REPLAY_WINDOW) - 1
_U64_MAX: Final = (1 << 64) - 1

DROP_REASONS: Final = (
    "too_short",
    "too_large",
    "bad_magic",
    "bad_version",
    "wrong_cluster",
    "unknown_sender",
    "own_datagram",
    "auth_failed",
    "replay",
    "stale_epoch",
    "retired_key",
)


class Dropped(Exception):
    """A received datagram was refused; ``reason`` is one of DROP_REASONS (a stable metric label)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetiredKeyDatagram(Dropped):
    """An authentic datagram sealed with the retired key: counted as a drop; only a key fetch may use it."""

    def __init__(self, sender: int, epoch: int, payload: bytes) -> None:
        super().__init__("retired_key")
        self.sender = sender
        self.epoch = epoch
        self.payload = payload


def derive_subkey(key: bytes, cluster_id: int, sender: int, epoch: int) -> bytes:
    """The 32-byte ChaCha20-Poly1305 key of one (cluster, sender, epoch).

    Binding the cluster id keeps two clusters that share a key file from accepting each other's traffic even
    if the header check were bypassed; binding the epoch is what makes the counter a safe nonce.
    """
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO + _INFO_TAIL.pack(cluster_id, sender, epoch)
    )
    return hkdf.derive(key)


class _Peer:
    """Replay state of one sender: its highest epoch and a bitmap of the last 128 counters in it.

    Bit i of ``seen`` stands for counter ``top - i``. A fresh epoch starts with top 0 and bit 0 set, so the
    never-sent counter 0 counts as already seen.
    """

    __slots__ = ("epoch", "seen", "top")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.top = 0
        self.seen = 1


class WireCodec:
    """Seals outgoing datagrams of the local node and opens (authenticates, de-duplicates) incoming ones.

    Not thread-safe: one codec belongs to one event loop. ``drops`` counts refusals by reason and
    ``accepted`` counts datagrams that open() returned.
    """

    def __init__(
        self, key: bytes, cluster_id: int, local_nodeid: int, epoch: int, known_senders: Collection[int]
    ) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"cluster key too short: {len(key)} bytes, at least {MIN_KEY_BYTES} needed")
        if not 0 <= cluster_id <= 0xFFFF:
            raise ValueError(f"cluster_id {cluster_id} does not fit in 16 bits")
        if not 0 < local_nodeid <= 0xFFFFFFFF:
            raise ValueError(f"node id {local_nodeid} is not in 1..2**32-1")
        if not 0 <= epoch <= _U64_MAX:
            raise ValueError(f"epoch {epoch} does not fit in 64 bits")
        self._key = bytes(key)
        self.cluster_id = cluster_id
        self.local_nodeid = local_nodeid
        self.epoch = epoch
        self._known: frozenset[int] = frozenset(known_senders)
        self._seal_aead = ChaCha20Poly1305(derive_subkey(self._key, cluster_id, local_nodeid, epoch))
        self._accept: tuple[bytes, ...] = (self._key,)
        self._retired: bytes | None = None
        self._retired_aead: ChaCha20Poly1305 | None = None
        self._opening: tuple[tuple[bytes, bytes], ...] = ()
        self._set_opening()
        self._counter = 0
        self._aeads: OrderedDict[tuple[bytes, int, int], ChaCha20Poly1305] = OrderedDict()
        self._peers: dict[int, _Peer] = {}
        self.drops: Counter[str] = Counter()
        self.accepted = 0

    @property
    def counter(self) -> int:
        """The counter of the last sealed datagram (0 before the first)."""
        return self._counter

    def set_known_senders(self, ids: Iterable[int]) -> None:
        """Replace the set of node ids we accept traffic from (after a configuration change).

        The replay state of removed nodes is kept on purpose: should one be added back, its old recorded
        datagrams must still be refused. It is a few integers per node id ever configured.
        """
        self._known = frozenset(ids)
        for cached in [k for k in self._aeads if k[1] not in self._known]:
            del self._aeads[cached]

    @property
    def key(self) -> bytes:
        """The key datagrams are sealed with now."""
        return self._key

    @property
    def has_retired(self) -> bool:
        return self._retired_aead is not None

    def use_keys(self, send: bytes, accept: Iterable[bytes], retired: bytes | None = None) -> None:
        """Seal with ``send``, open with any of ``accept`` (tried in order), and with ``retired`` key fetches."""
        keys = tuple(dict.fromkeys(bytes(k) for k in accept))
        for key in (send, *keys, *([retired] if retired else [])):
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"cluster key too short: {len(key)} bytes, at least {MIN_KEY_BYTES} needed")
        if bytes(send) != self._key:
            self._key = bytes(send)
            self._seal_aead = ChaCha20Poly1305(derive_subkey(self._key, self.cluster_id, self.local_nodeid, self.epoch))
        self._accept = keys
        self._retired = bytes(retired) if retired else None
        self._retired_aead = None
        if self._retired is not None:
            self._retired_aead = ChaCha20Poly1305(
                derive_subkey(self._retired, self.cluster_id, self.local_nodeid, self.epoch)
            )
        tags = {_tag(k) for k in (*keys, *([self._retired] if self._retired else []))}
        for cached in [k for k in self._aeads if k[0] not in tags]:
            del self._aeads[cached]
        self._set_opening()

    def _set_opening(self) -> None:
        """The keys `open` tries, in order, each with its cache tag: worked out when the keys change, not per
        datagram."""
        self._opening = tuple((_tag(k), k) for k in (*self._accept, *([self._retired] if self._retired else [])))

    def seal(self, payload: bytes, *, retired: bool = False) -> bytes:
        """Encrypt ``payload`` into one datagram, consuming the next counter of this epoch (with the retired key:
        the answer to a key fetch, which only the retired key's holder can open)."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte datagram budget")
        if self._counter >= _U64_MAX:  # unreachable in practice (2**64 datagrams), but never wrap a nonce
            raise OverflowError("datagram counter exhausted for this epoch: restart with a new epoch")
        self._counter += 1
        counter = self._counter
        header = HEADER.pack(MAGIC, VERSION, 0, self.cluster_id, self.local_nodeid, self.epoch, counter)
        aead = self._seal_aead
        if retired:
            if self._retired_aead is None:
                raise ValueError("no retired key to seal with")
            aead = self._retired_aead
        return header + aead.encrypt(_NONCE.pack(counter), payload, header)

    def open(self, datagram: bytes) -> tuple[int, int, bytes]:
        """Return (sender, epoch, payload) of an authentic, fresh datagram, or raise Dropped.

        Cheap header checks come first; then authentication; only an authentic datagram may touch the replay
        state, and the state is committed only if the datagram is accepted.
        """
        size = len(datagram)
        if size < HEADER_SIZE + TAG_SIZE:
            return self._drop("too_short")
        if size > MAX_DATAGRAM:
            return self._drop("too_large")
        magic, version, _flags, cluster_id, sender, epoch, counter = HEADER.unpack_from(datagram)
        if magic != MAGIC:
            return self._drop("bad_magic")
        if version != VERSION:
            return self._drop("bad_version")
        if cluster_id != self.cluster_id:
            return self._drop("wrong_cluster")
        if sender == self.local_nodeid:
            return self._drop("own_datagram")
        if sender not in self._known:
            return self._drop("unknown_sender")

        view = memoryview(datagram)
        nonce = _NONCE.pack(counter)
        payload: bytes | None = None
        retired = False
        for tag, key in self._opening:
            slot = (tag, sender, epoch)
            aead = self._aeads.get(slot)
            fresh_key = aead is None
            if aead is None:
                aead = ChaCha20Poly1305(derive_subkey(key, cluster_id, sender, epoch))
            try:
                payload = aead.decrypt(nonce, view[HEADER_SIZE:], view[:HEADER_SIZE])
            except InvalidTag:
                continue
            retired = key is self._retired
            # Authentic from here on. Cache the subkey only now, so forged epochs cannot flush the cache.
            if fresh_key:
                self._aeads[slot] = aead
                if len(self._aeads) > SUBKEY_CACHE:
                    self._aeads.popitem(last=False)
            else:
                self._aeads.move_to_end(slot)
            break
        if payload is None:
            return self._drop("auth_failed")

        peer = self._peers.get(sender)
        if peer is None or epoch > peer.epoch:
            state = _Peer(epoch)  # first contact or a restart: fresh window, committed only on acceptance
        elif epoch < peer.epoch:
            return self._drop("stale_epoch")
        else:
            state = peer
        ahead = counter - state.top
        if ahead > 0:
            state.seen = ((state.seen << ahead) | 1) & _WINDOW_MASK if ahead < REPLAY_WINDOW else 1
            state.top = counter
        else:
            bit = 1 << -ahead if -ahead < REPLAY_WINDOW else 0
            if not bit or state.seen & bit:
                return self._drop("replay")
            state.seen |= bit
        if state is not peer:
            self._peers[sender] = state
        if retired:
            self.drops["retired_key"] += 1
            raise RetiredKeyDatagram(sender, epoch, payload)
        self.accepted += 1
        return sender, epoch, payload

    def _drop(self, reason: str) -> tuple[int, int, bytes]:
        """Count and raise; typed as returning so that callers can write ``return self._drop(...)``."""
        self.drops[reason] += 1
        raise Dropped(reason)


_TAGS: dict[bytes, bytes] = {}


def _tag(key: bytes) -> bytes:
    """A short digest naming a key in the subkey cache (the cache must not mix two keys' subkeys)."""
    tag = _TAGS.get(key)
    if tag is None:
        if len(_TAGS) > 16:
            _TAGS.clear()
        tag = _TAGS[key] = hashlib.blake2s(key, digest_size=8).digest()
    return tag
