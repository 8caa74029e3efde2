import Crypto
import Foundation

/// The Noise protocol framework's `Noise_NNpsk2_25519_ChaChaPoly_SHA256` handshake (noiseprotocol.org, revision 34),
/// on swift-crypto's X25519, ChaCha20-Poly1305 and SHA-256.
///
/// ```
/// NNpsk2:
///   -> e
///   <- e, ee, psk
/// ```
///
/// Written here because no maintained Swift package implements Noise; the pattern needs only the few functions of
/// the specification's sections 4 and 5 (HKDF, MixKey, MixHash, MixKeyAndHash, EncryptAndHash, DecryptAndHash,
/// Split), each a line or two. It is checked against an independent implementation (Python's `noiseprotocol`) in
/// the tests.
///
/// Why this pattern: both units' ephemeral keys enter the key before anything keyed by the pre-shared secret is
/// sent, so a recorded handshake gives an eavesdropper nothing to test guesses of the secret against, and the
/// session keys of a recorded session cannot be recomputed later even by someone who then learns the secret (forward
/// secrecy). The dialled unit proves the secret in message 2; the dialler proves it with its first transport frame.
struct NoiseHandshake {
    static let protocolName = "Noise_NNpsk2_25519_ChaChaPoly_SHA256"
    static let keyLength = 32
    static let tagLength = 16

    enum Failure: Error, Equatable {
        /// A message shorter than its fixed part.
        case truncated
        /// A peer's public key the key agreement refuses (a low-order point).
        case badPublicKey
        /// A tag that does not authenticate: another secret, or a changed byte.
        case decryptionFailed
        /// A call out of the pattern's order.
        case outOfOrder
    }

    enum Role {
        case initiator
        case responder
    }

    private let role: Role
    private let psk: SymmetricKey
    private var state: SymmetricState
    private let ephemeral: Curve25519.KeyAgreement.PrivateKey
    private var remoteEphemeral: Curve25519.KeyAgreement.PublicKey?
    private var messages = 0

    /// - Parameters:
    ///   - prologue: bytes both sides must agree on (mixed into the handshake hash).
    ///   - ephemeral: injected by tests; a fresh key otherwise.
    init(role: Role, psk: SymmetricKey, prologue: [UInt8], ephemeral: Curve25519.KeyAgreement.PrivateKey = .init()) {
        self.role = role
        self.psk = psk
        self.ephemeral = ephemeral
        self.state = SymmetricState(protocolName: Self.protocolName)
        self.state.mixHash(prologue)
    }

    /// The handshake hash: equal on both sides after message 2, unique to this session (a channel binding).
    var handshakeHash: [UInt8] { self.state.h }

    // MARK: message 1 (initiator → responder): e

    mutating func writeMessage1(payload: [UInt8]) throws(Failure) -> [UInt8] {
        guard self.role == .initiator, self.messages == 0 else { throw .outOfOrder }
        self.messages = 1
        let publicKey = Array(self.ephemeral.publicKey.rawRepresentation)
        self.state.mixHash(publicKey)
        self.state.mixKey(publicKey)  // the "e" token of a psk handshake also feeds the chaining key
        return publicKey + (try self.state.encryptAndHash(payload))
    }

    mutating func readMessage1(_ message: [UInt8]) throws(Failure) -> [UInt8] {
        guard self.role == .responder, self.messages == 0 else { throw .outOfOrder }
        self.messages = 1
        guard message.count >= Self.keyLength else { throw .truncated }
        let remote = Array(message[..<Self.keyLength])
        guard let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: remote) else { throw .badPublicKey }
        self.remoteEphemeral = key
        self.state.mixHash(remote)
        self.state.mixKey(remote)
        return try self.state.decryptAndHash(Array(message[Self.keyLength...]))
    }

    // MARK: message 2 (responder → initiator): e, ee, psk

    mutating func writeMessage2(payload: [UInt8]) throws(Failure) -> [UInt8] {
        guard self.role == .responder, self.messages == 1, let remote = self.remoteEphemeral else { throw .outOfOrder }
        self.messages = 2
        let publicKey = Array(self.ephemeral.publicKey.rawRepresentation)
        self.state.mixHash(publicKey)
        self.state.mixKey(publicKey)
        self.state.mixKey(try Self.agree(self.ephemeral, remote))
        self.state.mixKeyAndHash(self.psk.bytes)
        return publicKey + (try self.state.encryptAndHash(payload))
    }

    mutating func readMessage2(_ message: [UInt8]) throws(Failure) -> [UInt8] {
        guard self.role == .initiator, self.messages == 1 else { throw .outOfOrder }
        self.messages = 2
        guard message.count >= Self.keyLength + Self.tagLength else { throw .truncated }
        let remote = Array(message[..<Self.keyLength])
        guard let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: remote) else { throw .badPublicKey }
        self.state.mixHash(remote)
        self.state.mixKey(remote)
        self.state.mixKey(try Self.agree(self.ephemeral, key))
        self.state.mixKeyAndHash(self.psk.bytes)
        return try self.state.decryptAndHash(Array(message[Self.keyLength...]))
    }

    /// The two transport keys once message 2 is through: initiator → responder, responder → initiator.
    func split() throws(Failure) -> (initiatorToResponder: SymmetricKey, responderToInitiator: SymmetricKey) {
        guard self.messages == 2 else { throw .outOfOrder }
        let (first, second, _) = SymmetricState.hkdf(chainingKey: self.state.ck, inputKeyMaterial: [], outputs: 2)
        return (SymmetricKey(data: first), SymmetricKey(data: second))
    }

    private static func agree(
        _ local: Curve25519.KeyAgreement.PrivateKey, _ remote: Curve25519.KeyAgreement.PublicKey
    ) throws(Failure) -> [UInt8] {
        guard let shared = try? local.sharedSecretFromKeyAgreement(with: remote) else { throw .badPublicKey }
        let bytes = shared.withUnsafeBytes { Array($0) }
        // An all-zero result means a low-order public key: refuse it (Noise section 12.1).
        guard bytes.contains(where: { $0 != 0 }) else { throw .badPublicKey }
        return bytes
    }
}

/// Noise's SymmetricState (section 5.2) with its CipherState (section 5.1) folded in.
private struct SymmetricState {
    var ck: [UInt8]
    var h: [UInt8]
    var k: SymmetricKey?
    var n: UInt64 = 0

    init(protocolName: String) {
        let name = Array(protocolName.utf8)
        // A name longer than the hash is hashed; a shorter one is zero-padded.
        self.h = name.count <= 32 ? name + [UInt8](repeating: 0, count: 32 - name.count) : Array(SHA256.hash(data: name))
        self.ck = self.h
    }

    mutating func mixHash(_ data: [UInt8]) {
        self.h = Array(SHA256.hash(data: self.h + data))
    }

    mutating func mixKey(_ inputKeyMaterial: [UInt8]) {
        let (chainingKey, key, _) = Self.hkdf(chainingKey: self.ck, inputKeyMaterial: inputKeyMaterial, outputs: 2)
        self.ck = chainingKey
        self.k = SymmetricKey(data: key)
        self.n = 0
    }

    mutating func mixKeyAndHash(_ inputKeyMaterial: [UInt8]) {
        let (chainingKey, hash, key) = Self.hkdf(chainingKey: self.ck, inputKeyMaterial: inputKeyMaterial, outputs: 3)
        self.ck = chainingKey
        self.mixHash(hash)
        self.k = SymmetricKey(data: key)
        self.n = 0
    }

    mutating func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseHandshake.Failure) -> [UInt8] {
        guard let key = self.k else {
            self.mixHash(plaintext)
            return plaintext
        }
        guard let sealed = try? ChaChaPoly.seal(plaintext, using: key, nonce: Self.nonce(self.n), authenticating: self.h) else {
            throw .decryptionFailed
        }
        self.n += 1
        let ciphertext = Array(sealed.ciphertext) + Array(sealed.tag)
        self.mixHash(ciphertext)
        return ciphertext
    }

    mutating func decryptAndHash(_ ciphertext: [UInt8]) throws(NoiseHandshake.Failure) -> [UInt8] {
        guard let key = self.k else {
            self.mixHash(ciphertext)
            return ciphertext
        }
        guard ciphertext.count >= NoiseHandshake.tagLength else { throw .truncated }
        let split = ciphertext.count - NoiseHandshake.tagLength
        guard let box = try? ChaChaPoly.SealedBox(nonce: Self.nonce(self.n), ciphertext: ciphertext[..<split], tag: ciphertext[split...]),
            let plaintext = try? ChaChaPoly.open(box, using: key, authenticating: self.h)
        else { throw .decryptionFailed }
        self.n += 1
        self.mixHash(ciphertext)
        return Array(plaintext)
    }

    /// Noise's nonce for ChaChaPoly: 4 zero bytes, then the counter little-endian.
    static func nonce(_ counter: UInt64) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[4 + index] = UInt8(truncatingIfNeeded: counter >> UInt64(8 * index)) }
        // A 12-byte nonce is always accepted.
        return (try? ChaChaPoly.Nonce(data: bytes)) ?? ChaChaPoly.Nonce()
    }

    /// Noise's HKDF (section 4.3): two or three 32-byte outputs from HMAC-SHA256.
    static func hkdf(chainingKey: [UInt8], inputKeyMaterial: [UInt8], outputs: Int) -> ([UInt8], [UInt8], [UInt8]) {
        let temporary = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: inputKeyMaterial, using: SymmetricKey(data: chainingKey))))
        let first = Array(HMAC<SHA256>.authenticationCode(for: [0x01], using: temporary))
        let second = Array(HMAC<SHA256>.authenticationCode(for: first + [0x02], using: temporary))
        let third = outputs > 2 ? Array(HMAC<SHA256>.authenticationCode(for: second + [0x03], using: temporary)) : []
        return (first, second, third)
    }
}

extension SymmetricKey {
    /// The key's bytes (the pre-shared key enters Noise's MixKeyAndHash as bytes).
    var bytes: [UInt8] { self.withUnsafeBytes { Array($0) } }
}
