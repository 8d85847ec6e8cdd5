"""RFC 6962 / RFC 9162 Merkle trees: pure functions over leaf hashes, no database.

A tree of ``n`` leaves splits at the largest power of two smaller than ``n``; the empty
tree's root is SHA-256 of nothing. :class:`CompactRange` keeps only the O(log n) roots of
the perfect subtrees left of the next leaf, so appending never re-reads old leaves. The
verifiers take public data only (hashes, sizes, paths) so anyone can run them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from troth.errors import ValidationError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf (RFC 6962 section 2.1)."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) bottom-up: pairing neighbours and lifting an odd last node gives the
    same tree as splitting at the largest power of two."""
    if hi <= lo:
        return EMPTY_ROOT
    level = list(leaves[lo:hi])
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of these leaf hashes (EMPTY_ROOT for none)."""
    return _range_root(leaves, 0, len(leaves))


@dataclass
class CompactRange:
    """The frontier of a growing tree: one hash per set bit of ``size``, largest subtree
    first. ``append`` is O(log n) and ``root`` needs no old leaves."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash, merging the perfect subtrees it completes."""
        hashes = self.hashes
        hashes.append(leaf)
        n = self.size
        while n & 1:
            right = hashes.pop()
            hashes[-1] = _sha256(NODE_PREFIX + hashes[-1] + right).digest()
            n >>= 1
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def append_subtree(self, node: bytes, height: int) -> None:
        """Add the root of a perfect subtree of ``2**height`` leaves; ``size`` must be a
        multiple of that (the subtree is then a subtree of the whole tree too)."""
        if self.size % (1 << height):
            raise ValidationError(f"a subtree of height {height} cannot start at {self.size}")
        hashes = self.hashes
        hashes.append(node)
        m = self.size >> height
        while m & 1:
            right = hashes.pop()
            hashes[-1] = _sha256(NODE_PREFIX + hashes[-1] + right).digest()
            m >>= 1
        self.size += 1 << height

    def extend_levels(self, levels: Sequence[Sequence[bytes]], count: int) -> None:
        """Add the first ``count`` leaves of a chunk from its :func:`subtree_levels`: each
        time the largest perfect subtree that fits and is aligned in the whole tree, so an
        aligned chunk of 2**k leaves costs one push."""
        offset = 0
        top = len(levels) - 1
        while offset < count:
            h = 0
            while (
                h < top and not (offset | self.size) & ((2 << h) - 1) and offset + (2 << h) <= count
            ):
                h += 1
            self.append_subtree(levels[h][offset >> h], h)
            offset += 1 << h

    def root(self) -> bytes:
        """The root of the tree of ``size`` leaves."""
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.hashes))

    def to_json(self) -> str:
        return json.dumps({"size": self.size, "hashes": [h.hex() for h in self.hashes]})

    @classmethod
    def from_json(cls, text: str) -> CompactRange:
        """Load a frontier written by :meth:`to_json`; ValidationError when it is damaged."""
        try:
            data = json.loads(text)
            size = int(data["size"])
            hashes = [bytes.fromhex(h) for h in data["hashes"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError(f"audit frontier is not valid JSON ({exc})") from exc
        if size < 0 or len(hashes) != size.bit_count() or any(len(h) != 32 for h in hashes):
            raise ValidationError(
                f"audit frontier does not match its size {size}: expected"
                f" {max(size, 0).bit_count()} hashes of 32 bytes"
            )
        return cls(size, hashes)


def subtree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """``levels[h][i]`` = root of the perfect subtree over ``leaves[i*2**h:(i+1)*2**h]``
    (complete subtrees only), computed level by level: the bulk path of verification."""
    levels = [list(leaves)]
    current = levels[0]
    sha, prefix = _sha256, NODE_PREFIX
    while len(current) > 1:
        current = [
            sha(prefix + a + b).digest() for a, b in zip(current[0::2], current[1::2], strict=False)
        ]
        levels.append(current)
    return levels


# -- proofs ------------------------------------------------------------------------------
def inclusion_path(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 section 2.1.1, from the leaf's sibling upward."""
    size = len(leaves) if size is None else size
    if not 0 <= index < size <= len(leaves):
        raise ValidationError(f"no leaf {index} in a tree of {size} leaves")
    path: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root, collecting siblings; reversed at the end (leaf first).
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_range_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_range_root(leaves, lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_path(leaves: Sequence[bytes], size1: int, size2: int | None = None) -> list[bytes]:
    """PROOF(size1, D[0:size2]) of RFC 6962 section 2.1.2: the tree of ``size2`` leaves
    extends the tree of ``size1`` leaves."""
    size2 = len(leaves) if size2 is None else size2
    if not 0 <= size1 <= size2 <= len(leaves):
        raise ValidationError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == 0 or size1 == size2:
        return []
    out: list[bytes] = []
    lo, hi, m, whole = 0, size2, size1, True
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                out.append(_range_root(leaves, lo, hi))
            break
        k = _split(n)
        if m <= k:
            out.append(_range_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            out.append(_range_root(leaves, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    out.reverse()
    return out


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """True when ``proof`` shows leaf ``index`` of a tree of ``size`` leaves is ``leaf``
    under ``root_hash`` (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                fn, sn = _climb(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def _climb(fn: int, sn: int) -> tuple[int, int]:
    """Shift both indexes right until ``fn``'s lowest bit is set or it is 0 (the step RFC
    9162's inclusion and consistency checks share)."""
    while True:
        fn >>= 1
        sn >>= 1
        if fn & 1 or fn == 0:
            return fn, sn


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """True when ``proof`` shows the tree (``size2``, ``root2``) extends the tree
    (``size1``, ``root1``) without changing it (RFC 9162 section 2.1.4.2)."""
    if not 0 <= size1 <= size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof and root1 == EMPTY_ROOT
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    if not path:
        return False
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                fn, sn = _climb(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "consistency_path",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "root",
    "subtree_levels",
    "verify_consistency",
    "verify_inclusion",
]
