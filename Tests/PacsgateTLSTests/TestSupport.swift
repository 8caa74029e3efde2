import Foundation
import NIOCore
import PacsgateTLS
import Testing

/// The captured and derived ClientHellos in `Fixtures/` (see `Fixtures/capture/capture_client_hellos.py`).
enum Fixture: String, CaseIterable, CustomTestStringConvertible {
    case opensslSNIALPN = "openssl-sni-alpn"
    case curlSNI = "curl-sni"
    case pythonNoSNI = "python-no-sni"
    case opensslTLS12 = "openssl-tls12"
    case opensslFragmented = "openssl-fragmented"
    case pythonLargeALPN = "python-large-alpn"
    case opensslTwoRecords = "openssl-two-records"
    case opensslPadded10K = "openssl-padded-10k"

    var testDescription: String { self.rawValue }

    func bytes() throws -> [UInt8] {
        let url = try #require(
            Bundle.module.url(forResource: self.rawValue, withExtension: "bin", subdirectory: "Fixtures"),
            "fixture \(self.rawValue).bin missing from the test bundle"
        )
        return Array(try Data(contentsOf: url))
    }
}

extension ClientHelloParser {
    /// Parses `bytes` given whole.
    func parse(_ bytes: [UInt8]) throws(TLSParseError) -> ClientHello? {
        try self.parse(ByteBuffer(bytes: bytes))
    }

    /// Feeds `bytes` one byte at a time into a growing buffer, as the inspector does with reads, and returns
    /// the first non-`nil` outcome together with the number of bytes it took; `nil` if every prefix needs more.
    func parseOneByteAtATime(_ bytes: [UInt8]) -> (result: Result<ClientHello, TLSParseError>, after: Int)? {
        var received = ByteBuffer()
        for byte in bytes {
            received.writeInteger(byte)
            do {
                if let hello = try self.parse(received) {
                    return (.success(hello), received.readableBytes)
                }
            } catch {
                return (.failure(error), received.readableBytes)
            }
        }
        return nil
    }
}

/// Asserts that `bytes` fail with exactly `expected`, both whole and fed one byte at a time (where every
/// shorter prefix must yield `nil`).
func expectParseError(
    _ bytes: [UInt8],
    _ expected: TLSParseError,
    parser: ClientHelloParser = ClientHelloParser(),
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(throws: expected, "whole input", sourceLocation: sourceLocation) { try parser.parse(bytes) }
    let incremental = parser.parseOneByteAtATime(bytes)
    switch incremental?.result {
    case .failure(let error):
        #expect(error == expected, "fed one byte at a time", sourceLocation: sourceLocation)
    case .success(let hello):
        Issue.record("fed one byte at a time: parsed \(hello)", sourceLocation: sourceLocation)
    case nil:
        Issue.record("fed one byte at a time: still needs more bytes", sourceLocation: sourceLocation)
    }
}

/// Builds ClientHellos with a fixed, hand-checkable layout. With the defaults (empty session id, one cipher
/// suite, one compression method) and a single record, the stream offsets are:
///
///     0 record type   1 record version   3 record length
///     5 handshake type   6 handshake length (uint24)
///     9 legacy_version   11 random (32)   43 session_id length
///     44 cipher_suites length   46 suite   48 compression length   49 method
///     50 extensions length   52 first extension type   54 its length   56 its data
struct HelloBuilder {
    var handshakeType: UInt8 = 1
    var legacyVersion: UInt16 = 0x0303
    var sessionID: [UInt8] = []
    var cipherSuites: [UInt8] = [0x13, 0x01]
    var compressionMethods: [UInt8] = [0x00]
    /// The content of the extensions block; `nil` leaves the block out.
    var extensions: [UInt8]? = []
    /// Bytes appended to the body after the extensions block.
    var trailer: [UInt8] = []

    init(extensions: [UInt8]? = []) {
        self.extensions = extensions
    }

    var body: [UInt8] {
        var body = be16(self.legacyVersion) + [UInt8](repeating: 0xAB, count: 32)
        body += [UInt8(self.sessionID.count)] + self.sessionID
        body += be16(UInt16(self.cipherSuites.count)) + self.cipherSuites
        body += [UInt8(self.compressionMethods.count)] + self.compressionMethods
        if let extensions = self.extensions {
            body += be16(UInt16(extensions.count)) + extensions
        }
        return body + self.trailer
    }

    /// The handshake message: type, uint24 length, body.
    var message: [UInt8] {
        let body = self.body
        return [self.handshakeType] + be24(body.count) + body
    }

    /// The message in one record.
    var bytes: [UInt8] {
        tlsRecords(self.message)
    }
}

/// `message` as handshake records, split at the given message offsets.
func tlsRecords(_ message: [UInt8], splitAt splits: [Int] = []) -> [UInt8] {
    var out: [UInt8] = []
    var start = 0
    for end in splits + [message.count] {
        let fragment = Array(message[start..<end])
        out += [0x16, 0x03, 0x01] + be16(UInt16(fragment.count)) + fragment
        start = end
    }
    return out
}

/// The handshake message inside `records` (concatenated fragments).
func handshakeMessage(_ records: [UInt8]) -> [UInt8] {
    var message: [UInt8] = []
    var offset = 0
    while offset + 5 <= records.count {
        let length = Int(records[offset + 3]) << 8 | Int(records[offset + 4])
        message += records[(offset + 5)..<(offset + 5 + length)]
        offset += 5 + length
    }
    return message
}

func be16(_ value: UInt16) -> [UInt8] {
    [UInt8(value >> 8), UInt8(value & 0xFF)]
}

func be24(_ value: Int) -> [UInt8] {
    [UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

/// One extension: type, length, data.
func tlsExtension(_ type: UInt16, _ data: [UInt8]) -> [UInt8] {
    be16(type) + be16(UInt16(data.count)) + data
}

/// A server_name extension with one host_name entry.
func sniExtension(_ name: [UInt8]) -> [UInt8] {
    let entry = [0x00] + be16(UInt16(name.count)) + name
    return tlsExtension(0, be16(UInt16(entry.count)) + entry)
}

func sniExtension(_ name: String) -> [UInt8] {
    sniExtension(Array(name.utf8))
}

/// An ALPN extension.
func alpnExtension(_ protocols: [String]) -> [UInt8] {
    let list = protocols.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
    return tlsExtension(16, be16(UInt16(list.count)) + list)
}

/// A supported_versions extension.
func supportedVersionsExtension(_ versions: [UInt16]) -> [UInt8] {
    let list = versions.flatMap(be16)
    return tlsExtension(43, [UInt8(list.count)] + list)
}
