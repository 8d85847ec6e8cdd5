"""RFC 6962 Merkle tree: the test vectors of REGULATIONS.md and properties of proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from troth.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    root,
    subtree_levels,
    verify_consistency,
    verify_inclusion,
)
from troth.errors import ValidationError

VECTOR_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
VECTOR_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
VECTOR_HASHES = [leaf_hash(bytes.fromhex(x)) for x in VECTOR_LEAVES]


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 6962 writes it, recursively (the oracle for the fast code)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


@pytest.mark.parametrize("n", range(9))
def test_rfc_vector_roots(n: int) -> None:
    expected = bytes.fromhex(VECTOR_ROOTS[n])
    assert root(VECTOR_HASHES[:n]) == expected
    assert reference_root(VECTOR_HASHES[:n]) == expected
    cr = CompactRange()
    cr.extend(VECTOR_HASHES[:n])
    assert cr.root() == expected
    assert CompactRange.from_json(cr.to_json()).root() == expected


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == VECTOR_ROOTS[0]


def test_leaf_and_node_are_domain_separated() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    a, b = VECTOR_HASHES[1], VECTOR_HASHES[2]
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)


def test_rfc_vector_proofs_all_sizes() -> None:
    for n in range(1, 9):
        r = bytes.fromhex(VECTOR_ROOTS[n])
        for i in range(n):
            assert verify_inclusion(VECTOR_HASHES[i], i, n, inclusion_path(VECTOR_HASHES, i, n), r)
        for m in range(0, n + 1):
            proof = consistency_path(VECTOR_HASHES, m, n)
            assert verify_consistency(m, n, bytes.fromhex(VECTOR_ROOTS[m]), r, proof)


def test_known_rfc_inclusion_path_lengths() -> None:
    # Leaf 0 of 8 needs 3 siblings; leaf 6 of 7 needs 2 (its subtree of one is lifted).
    assert len(inclusion_path(VECTOR_HASHES, 0, 8)) == 3
    assert len(inclusion_path(VECTOR_HASHES, 6, 7)) == 2
    assert inclusion_path(VECTOR_HASHES, 0, 1) == []


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValidationError, match="no leaf 8"):
        inclusion_path(VECTOR_HASHES, 8, 8)
    with pytest.raises(ValidationError, match="no consistency proof"):
        consistency_path(VECTOR_HASHES, 5, 3)
    with pytest.raises(ValidationError, match="does not match its size"):
        CompactRange.from_json('{"size": 3, "hashes": []}')
    with pytest.raises(ValidationError, match="not valid JSON"):
        CompactRange.from_json("nope")


def test_verifiers_reject_out_of_range_inputs() -> None:
    r = bytes.fromhex(VECTOR_ROOTS[8])
    assert not verify_inclusion(VECTOR_HASHES[0], 8, 8, [], r)
    assert not verify_inclusion(VECTOR_HASHES[0], -1, 8, [], r)
    assert not verify_consistency(5, 3, r, r, [])
    assert not verify_consistency(3, 3, r, bytes(32), [])
    assert not verify_consistency(0, 3, bytes(32), r, [])


leaf_lists = st.lists(st.binary(max_size=16), min_size=1, max_size=70).map(
    lambda xs: [leaf_hash(x) for x in xs]
)


def _flip(b: bytes, bit: int) -> bytes:
    i = (bit // 8) % len(b)
    return b[:i] + bytes([b[i] ^ (1 << (bit % 8))]) + b[i + 1 :]


@settings(max_examples=60, deadline=None)
@given(leaf_lists, st.integers(0, 255))
def test_every_inclusion_proof_verifies_and_a_flipped_bit_fails(
    leaves: list[bytes], bit: int
) -> None:
    n = len(leaves)
    r = root(leaves)
    assert r == reference_root(leaves)
    for i in range(n):
        path = inclusion_path(leaves, i)
        assert verify_inclusion(leaves[i], i, n, path, r)
        assert not verify_inclusion(_flip(leaves[i], bit), i, n, path, r)
        assert not verify_inclusion(leaves[i], i, n, path, _flip(r, bit))
        if path:
            j = bit % len(path)
            bad = [*path[:j], _flip(path[j], bit), *path[j + 1 :]]
            assert not verify_inclusion(leaves[i], i, n, bad, r)
            assert not verify_inclusion(leaves[i], i, n, path[:-1], r)
        if n > 1:
            assert not verify_inclusion(leaves[i], (i + 1) % n, n, path, r) or (
                leaves[i] == leaves[(i + 1) % n]
            )


@settings(max_examples=60, deadline=None)
@given(leaf_lists, st.integers(0, 255))
def test_consistency_proofs_verify_for_all_sizes_and_fail_when_tampered(
    leaves: list[bytes], bit: int
) -> None:
    n = len(leaves)
    rn = root(leaves)
    for m in range(0, n + 1):
        rm = root(leaves[:m])
        proof = consistency_path(leaves, m, n)
        assert verify_consistency(m, n, rm, rn, proof)
        if 0 < m < n:
            assert not verify_consistency(m, n, _flip(rm, bit), rn, proof)
            assert not verify_consistency(m, n, rm, _flip(rn, bit), proof)
            j = bit % len(proof)
            bad = [*proof[:j], _flip(proof[j], bit), *proof[j + 1 :]]
            assert not verify_consistency(m, n, rm, rn, bad)
            assert not verify_consistency(m, n, rm, rn, [*proof, rn])


@settings(max_examples=60, deadline=None)
@given(leaf_lists)
def test_compact_range_root_equals_full_recompute_after_every_append(leaves: list[bytes]) -> None:
    cr = CompactRange()
    for i, leaf in enumerate(leaves):
        cr.append(leaf)
        assert cr.size == i + 1
        assert len(cr.hashes) == cr.size.bit_count()
        assert cr.root() == reference_root(leaves[: i + 1])
    again = CompactRange.from_json(cr.to_json())
    assert again == cr
    copy = cr.copy()
    copy.append(leaves[0])
    assert cr.size == len(leaves)


@settings(max_examples=60, deadline=None)
@given(leaf_lists, st.integers(1, 20))
def test_chunked_levels_give_the_same_roots_as_leaf_by_leaf(
    leaves: list[bytes], chunk: int
) -> None:
    # Aligned chunks (powers of two, as verify reads them) and unaligned ones alike.
    frontier = CompactRange()
    for start in range(0, len(leaves), chunk):
        part = leaves[start : start + chunk]
        levels = subtree_levels(part)
        for k in range(1, len(part) + 1):
            probe = frontier.copy()
            probe.extend_levels(levels, k)
            assert probe.size == start + k
            assert probe.root() == reference_root(leaves[: start + k])
        frontier.extend_levels(levels, len(part))
    assert frontier.root() == reference_root(leaves)


def test_misaligned_subtree_is_refused() -> None:
    cr = CompactRange()
    cr.append(VECTOR_HASHES[0])
    with pytest.raises(ValidationError, match="cannot start at 1"):
        cr.append_subtree(VECTOR_HASHES[1], 1)
