import Crypto
import Foundation
import PacsgateTestSupport
import Testing

@testable import PacsgateHA

/// The hand-written Noise NNpsk2 handshake against an independent implementation: Python's `noiseprotocol` (PyPI),
/// both ways, with the handshake hash and a transport message compared.
@Suite("HA Noise handshake against Python's noiseprotocol")
struct NoiseInteropTests {
    static let psk: [UInt8] = (0..<32).map { UInt8($0 * 7 + 3) }
    static let prologue = Array("pacsgate-ha/2".utf8)

    /// One run of the Python side: reads a JSON request on standard input, prints a JSON answer.
    static let program = """
        import json, sys, warnings
        warnings.simplefilter("ignore")
        from noise.connection import NoiseConnection, Keypair
        req = json.loads(sys.stdin.read())
        p = NoiseConnection.from_name(b"Noise_NNpsk2_25519_ChaChaPoly_SHA256")
        p.set_as_initiator() if req["role"] == "initiator" else p.set_as_responder()
        p.set_psks(psk=bytes.fromhex(req["psk"]))
        p.set_prologue(bytes.fromhex(req["prologue"]))
        if "ephemeral" in req:
            p.set_keypair_from_private_bytes(Keypair.EPHEMERAL, bytes.fromhex(req["ephemeral"]))
        p.start_handshake()
        out = {}
        if req["role"] == "responder":
            out["payload1"] = bytes(p.read_message(bytes.fromhex(req["message1"]))).hex()
            out["message2"] = bytes(p.write_message(bytes.fromhex(req["payload2"]))).hex()
            out["transport"] = bytes(p.encrypt(b"from the responder")).hex()
        else:
            out["message1"] = bytes(p.write_message(bytes.fromhex(req["payload1"]))).hex()
            if "message2" in req:
                out["payload2"] = bytes(p.read_message(bytes.fromhex(req["message2"]))).hex()
                out["transport"] = bytes(p.encrypt(b"from the initiator")).hex()
        if p.handshake_finished:
            out["hash"] = bytes(p.get_handshake_hash()).hex()
        print(json.dumps(out))
        """

    static func python(_ request: [String: String]) async throws -> [String: String] {
        let input = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
        let output = try await ExternalTools.run(Peers.env, ["python3", "-c", Self.program], input: input)
        guard output.status == 0, let object = try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [String: String]
        else {
            throw HATestFailure("noiseprotocol failed (scripts/install-test-deps.sh installs it): \(output.standardOutput) \(output.standardError)")
        }
        return object
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func bytes(_ hex: String?) throws -> [UInt8] {
        guard let hex, hex.count % 2 == 0 else { throw HATestFailure("not hex: \(hex ?? "nil")") }
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { throw HATestFailure("not hex: \(hex)") }
            result.append(byte)
            index = next
        }
        return result
    }

    /// Opens a Noise transport message (nonce 0, no associated data) under `key`.
    static func openTransport(_ message: [UInt8], key: SymmetricKey) throws -> String {
        let box = try ChaChaPoly.SealedBox(
            nonce: try ChaChaPoly.Nonce(data: [UInt8](repeating: 0, count: 12)), ciphertext: message.dropLast(16), tag: message.suffix(16))
        return String(decoding: try ChaChaPoly.open(box, using: key), as: UTF8.self)
    }

    @Test("pacsgate dials, noiseprotocol answers: same payloads, same handshake hash, same transport keys")
    func swiftInitiator() async throws {
        var initiator = NoiseHandshake(role: .initiator, psk: SymmetricKey(data: Self.psk), prologue: Self.prologue)
        let message1 = try initiator.writeMessage1(payload: Array("hello from swift".utf8))
        let answer = try await Self.python([
            "role": "responder", "psk": Self.hex(Self.psk), "prologue": Self.hex(Self.prologue), "message1": Self.hex(message1),
            "payload2": Self.hex(Array("welcome from python".utf8)),
        ])
        #expect(try Self.bytes(answer["payload1"]) == Array("hello from swift".utf8))
        let payload2 = try initiator.readMessage2(try Self.bytes(answer["message2"]))
        #expect(payload2 == Array("welcome from python".utf8))
        #expect(Self.hex(initiator.handshakeHash) == answer["hash"])
        let keys = try initiator.split()
        #expect(try Self.openTransport(try Self.bytes(answer["transport"]), key: keys.responderToInitiator) == "from the responder")
    }

    @Test("noiseprotocol dials, pacsgate answers: same payloads, same handshake hash, same transport keys")
    func swiftResponder() async throws {
        // The Python initiator runs twice with the same ephemeral key, so its first message is the same both times.
        let ephemeral = Self.hex((0..<32).map { UInt8(($0 * 13 + 1) & 0xFF) })
        var request = [
            "role": "initiator", "psk": Self.hex(Self.psk), "prologue": Self.hex(Self.prologue), "ephemeral": ephemeral,
            "payload1": Self.hex(Array("hello from python".utf8)),
        ]
        let first = try await Self.python(request)
        var responder = NoiseHandshake(role: .responder, psk: SymmetricKey(data: Self.psk), prologue: Self.prologue)
        #expect(try responder.readMessage1(try Self.bytes(first["message1"])) == Array("hello from python".utf8))
        let message2 = try responder.writeMessage2(payload: Array("welcome from swift".utf8))
        request["message2"] = Self.hex(message2)
        let second = try await Self.python(request)
        #expect(second["message1"] == first["message1"])
        #expect(try Self.bytes(second["payload2"]) == Array("welcome from swift".utf8))
        #expect(second["hash"] == Self.hex(responder.handshakeHash))
        let keys = try responder.split()
        #expect(try Self.openTransport(try Self.bytes(second["transport"]), key: keys.initiatorToResponder) == "from the initiator")
    }

    @Test("a psk that differs by one bit makes the second message fail, on either implementation")
    func wrongPSK() async throws {
        var initiator = NoiseHandshake(role: .initiator, psk: SymmetricKey(data: Self.psk), prologue: Self.prologue)
        let message1 = try initiator.writeMessage1(payload: [])
        var other = Self.psk
        other[0] ^= 1
        let answer = try await Self.python([
            "role": "responder", "psk": Self.hex(other), "prologue": Self.hex(Self.prologue), "message1": Self.hex(message1), "payload2": "",
        ])
        #expect(throws: NoiseHandshake.Failure.decryptionFailed) { try initiator.readMessage2(try Self.bytes(answer["message2"])) }
    }
}
