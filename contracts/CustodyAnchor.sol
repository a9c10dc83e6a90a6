// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title CustodyAnchor
 * @notice Append-only on-chain log of Custody Ledger Merkle batch roots. Batch `seq` can only be
 * anchored after batches `0 … seq-1`, and once anchored its root, leaf count and timestamp never change,
 * so anyone holding an inclusion proof can check that a custody event has been committed since the
 * block that anchored its batch, without trusting the service that built the proof.
 * @dev Leaves are OpenZeppelin "standard" Merkle tree leaves over
 * `["bytes32","bytes32","bytes32"] = [eventDigest, signaturesHash, previousLeaf]` (see {custodyLeaf});
 * inner nodes hash sorted pairs (OpenZeppelin {MerkleProof}, merkletreejs `sortPairs: true`).
 * Only accounts holding {ANCHORER_ROLE} anchor; {DEFAULT_ADMIN_ROLE} manages roles and cannot anchor
 * unless it is granted {ANCHORER_ROLE} as well.
 */
contract CustodyAnchor is AccessControl {
    /// @notice Role allowed to call {anchorBatch}.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @dev One anchored batch; `root` takes one slot, `leafCount` and `anchoredAt` share the second.
    struct Batch {
        bytes32 root;
        uint32 leafCount;
        uint64 anchoredAt;
    }

    /// @dev The sequence number the next {anchorBatch} must use; also the number of anchored batches.
    uint64 private _nextSeq;

    mapping(uint64 seq => Batch) private _batches;

    /**
     * @notice Emitted when batch `seq` with Merkle root `root` over `leafCount` leaves is anchored
     * at block time `timestamp`.
     */
    event BatchAnchored(uint64 indexed seq, bytes32 indexed root, uint32 leafCount, uint64 timestamp);

    /// @notice The constructor was given the zero address as admin.
    error CustodyAnchorZeroAdmin();

    /// @notice The constructor was given the zero address as anchorer.
    error CustodyAnchorZeroAnchorer();

    /// @notice {anchorBatch} was called with `given` while the next sequence number is `expected`.
    error CustodyAnchorUnexpectedSeq(uint64 expected, uint64 given);

    /// @notice {anchorBatch} was called with a zero root.
    error CustodyAnchorZeroRoot();

    /// @notice {anchorBatch} was called with a leaf count of zero.
    error CustodyAnchorEmptyBatch();

    /**
     * @notice Deploys the anchor with `admin` managing roles and `anchorer` allowed to anchor batches.
     * @param admin Account granted {DEFAULT_ADMIN_ROLE}; must not be the zero address.
     * @param anchorer Account granted {ANCHORER_ROLE}; must not be the zero address. May equal `admin`.
     */
    constructor(address admin, address anchorer) {
        if (admin == address(0)) revert CustodyAnchorZeroAdmin();
        if (anchorer == address(0)) revert CustodyAnchorZeroAnchorer();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, anchorer);
    }

    /**
     * @notice Anchors batch `seq`: records its Merkle `root`, its `leafCount` and the current block time.
     * @dev Reverts with {AccessControlUnauthorizedAccount} unless the caller has {ANCHORER_ROLE}, with
     * {CustodyAnchorUnexpectedSeq} unless `seq == nextSeq()` (so a root is never overwritten and no
     * sequence number is skipped), with {CustodyAnchorZeroRoot} for a zero root and with
     * {CustodyAnchorEmptyBatch} for a zero leaf count. Emits {BatchAnchored}.
     * @param seq Sequence number of the batch; must equal {nextSeq}.
     * @param root Merkle root of the batch; must not be zero.
     * @param leafCount Number of leaves in the batch; must not be zero.
     */
    function anchorBatch(uint64 seq, bytes32 root, uint32 leafCount) external onlyRole(ANCHORER_ROLE) {
        uint64 expected = _nextSeq;
        if (seq != expected) revert CustodyAnchorUnexpectedSeq(expected, seq);
        if (root == bytes32(0)) revert CustodyAnchorZeroRoot();
        if (leafCount == 0) revert CustodyAnchorEmptyBatch();

        uint64 anchoredAt = uint64(block.timestamp);
        _batches[seq] = Batch({root: root, leafCount: leafCount, anchoredAt: anchoredAt});
        _nextSeq = expected + 1;
        emit BatchAnchored(seq, root, leafCount, anchoredAt);
    }

    /**
     * @notice The sequence number the next {anchorBatch} call must use, which is also the number of
     * batches anchored so far (batches `0 … nextSeq()-1` are anchored).
     */
    function nextSeq() external view returns (uint64) {
        return _nextSeq;
    }

    /**
     * @notice The Merkle root of batch `seq`, or zero if that batch has not been anchored.
     * @param seq Sequence number of the batch.
     */
    function batchRoot(uint64 seq) external view returns (bytes32) {
        return _batches[seq].root;
    }

    /**
     * @notice Everything recorded for batch `seq`; all zero if that batch has not been anchored.
     * @param seq Sequence number of the batch.
     * @return root Merkle root of the batch.
     * @return leafCount Number of leaves in the batch.
     * @return anchoredAt Block timestamp (unix seconds) of the block that anchored the batch.
     */
    function batch(uint64 seq) external view returns (bytes32 root, uint32 leafCount, uint64 anchoredAt) {
        Batch storage b = _batches[seq];
        return (b.root, b.leafCount, b.anchoredAt);
    }

    /**
     * @notice Whether `proof` proves that `leaf` is in the tree of anchored batch `seq`; false if the
     * batch has not been anchored.
     * @dev Callers MUST derive `leaf` themselves from the event's values with {custodyLeaf} (or the same
     * computation off chain), never accept it as given: like every Merkle proof check, an inner node of
     * the tree also verifies, with a shorter proof. The double hashing of the standard leaf is what keeps
     * an inner node from being the leaf of any `(digest, sigHash, prevLeaf)`.
     * @param seq Sequence number of the batch.
     * @param leaf The leaf, as computed by {custodyLeaf}.
     * @param proof Sibling hashes from the leaf up to the root (sorted-pair hashing).
     */
    function verifyInclusion(uint64 seq, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        bytes32 root = _batches[seq].root;
        if (root == bytes32(0)) return false;
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /**
     * @notice The Merkle leaf of a custody event: the OpenZeppelin standard leaf over
     * `["bytes32","bytes32","bytes32"]`, i.e. `keccak256(bytes.concat(keccak256(abi.encode(digest,
     * sigHash, prevLeaf))))`.
     * @param digest EIP-712 digest of the signed `CustodyEvent`.
     * @param sigHash `keccak256(signature ‖ counterSignature)`.
     * @param prevLeaf Leaf of the same shipment's previous accepted event; zero for its first event.
     */
    function custodyLeaf(bytes32 digest, bytes32 sigHash, bytes32 prevLeaf) external pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(digest, sigHash, prevLeaf))));
    }
}
