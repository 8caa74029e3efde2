/// Why the bytes a client sent are not an acceptable TLS ClientHello, and where.
///
/// `offset` counts from the first readable byte of the buffer given to `ClientHelloParser.parse(_:)` (the
/// first byte the client sent), across record headers, so it points into the raw stream even when the hello
/// spans several records. It names the first byte of the offending field: the record or length field for
/// length problems, the type field for duplicate extensions, the offending byte inside a host name.
public struct TLSParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule the input broke.
    public enum Reason: Hashable, Sendable {
        /// The first byte has its high bit set: an SSL 2.0 (or SSLv2-compatible) ClientHello, which is not
        /// inspected.
        case sslv2Hello
        /// A record's content type is not handshake (22). At offset 0 the peer most likely does not speak TLS
        /// at all (see `PlaintextHTTPDetector`).
        case notHandshakeRecord(contentType: UInt8)
        /// A record's `legacy_record_version` does not have major version 3.
        case unsupportedRecordVersion(UInt16)
        /// A record's length is above `ClientHelloParser.maximumRecordLength`.
        case recordTooLong(length: Int)
        /// A handshake record with an empty fragment (forbidden by RFC 8446 §5.1).
        case emptyHandshakeFragment
        /// The first handshake message is not a ClientHello (type 1).
        case notClientHello(handshakeType: UInt8)
        /// The records carrying the ClientHello would exceed the parser's `maximumBytes`.
        case clientHelloTooLarge(limit: Int)
        /// The record that completes the ClientHello holds more handshake bytes after it. A client sends
        /// nothing else in the handshake before the server's reply.
        case dataAfterClientHello
        /// The ClientHello's `legacy_version` does not have major version 3.
        case unsupportedVersion(UInt16)
        /// A field, or the content its length prefix announces, runs past the end of the structure that
        /// contains it.
        case lengthOverrun(Field)
        /// A structure has bytes left over after its last element.
        case trailingBytes(Field)
        /// A length prefix holds a value the protocol forbids for the field: session id over 32, an odd or
        /// empty cipher suite list, no compression method, an empty name or protocol list, an odd
        /// `supported_versions` list, an empty ALPN identifier.
        case invalidLength(Field, length: Int)
        /// An extension type appears a second time (RFC 8446 §4.2).
        case duplicateExtension(type: UInt16)
        /// The server_name entry has a name type other than `host_name` (0).
        case unsupportedServerNameType(UInt8)
        /// The SNI host name is not an acceptable DNS host name.
        case invalidServerName(HostNameViolation)
    }

    /// A part of the ClientHello, for errors about lengths and bounds.
    public enum Field: Hashable, Sendable {
        /// The whole ClientHello body (what the handshake length covers).
        case clientHello
        case legacyVersion
        case random
        case sessionID
        case cipherSuites
        case compressionMethods
        /// The extensions block.
        case extensions
        /// The data of one extension.
        case `extension`(type: UInt16)
        /// `server_name` (0): the `ServerNameList`.
        case serverNameList
        /// `server_name` (0): the `HostName`.
        case hostName
        /// ALPN (16): the `ProtocolNameList`.
        case alpnList
        /// ALPN (16): one `ProtocolName`.
        case alpnProtocol
        /// `supported_versions` (43): the version list.
        case supportedVersions
    }

    /// What is wrong.
    public var reason: Reason
    /// Where: the byte offset from the start of the client's stream (see the type's documentation).
    public var offset: Int

    public init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// The fatal alert to send before closing, or `nil` when the peer evidently does not speak TLS (HTTP,
    /// garbage, SSL 2.0 framing) and an alert record would only be more noise to it.
    public var alert: TLSAlert? {
        switch self.reason {
        case .sslv2Hello:
            return nil
        case .notHandshakeRecord:
            return self.offset == 0 ? nil : .unexpectedMessage
        case .unsupportedRecordVersion, .unsupportedVersion:
            return .protocolVersion
        case .recordTooLong:
            return .recordOverflow
        case .notClientHello:
            return .unexpectedMessage
        case .clientHelloTooLarge:
            return .handshakeFailure
        case .emptyHandshakeFragment, .dataAfterClientHello, .lengthOverrun, .trailingBytes, .invalidLength,
            .duplicateExtension, .unsupportedServerNameType:
            return .decodeError
        case .invalidServerName:
            return .unrecognizedName
        }
    }

    /// One line for a log: the reason and offset, never bytes from the peer beyond single type/length values.
    public var description: String {
        "\(self.reasonDescription) at byte \(self.offset)"
    }

    private var reasonDescription: String {
        switch self.reason {
        case .sslv2Hello:
            return "SSLv2-style ClientHello"
        case .notHandshakeRecord(let contentType):
            return "record content type \(contentType) is not handshake (22)"
        case .unsupportedRecordVersion(let version):
            return "record version \(TLSVersion(rawValue: version)) is not TLS"
        case .recordTooLong(let length):
            return "record length \(length) exceeds \(ClientHelloParser.maximumRecordLength)"
        case .emptyHandshakeFragment:
            return "empty handshake record"
        case .notClientHello(let handshakeType):
            return "handshake type \(handshakeType) is not ClientHello (1)"
        case .clientHelloTooLarge(let limit):
            return "ClientHello exceeds \(limit) bytes"
        case .dataAfterClientHello:
            return "handshake data after the ClientHello"
        case .unsupportedVersion(let version):
            return "ClientHello version \(TLSVersion(rawValue: version)) is not TLS"
        case .lengthOverrun(let field):
            return "\(field) overruns its parent"
        case .trailingBytes(let field):
            return "trailing bytes after \(field)"
        case .invalidLength(let field, let length):
            return "invalid \(field) length \(length)"
        case .duplicateExtension(let type):
            return "duplicate extension \(type)"
        case .unsupportedServerNameType(let type):
            return "server name type \(type) is not host_name (0)"
        case .invalidServerName(let violation):
            return "invalid server name: \(violation)"
        }
    }
}
