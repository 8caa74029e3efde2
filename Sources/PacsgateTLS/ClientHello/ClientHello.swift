/// What the gateway needs from a TLS ClientHello to log and route a passthrough connection.
///
/// Values from extensions are as the client sent them (GREASE included); the description helpers below
/// prepare them for the audit line.
public struct ClientHello: Hashable, Sendable {
    /// `legacy_version` (TLS 1.3 clients send TLS 1.2 here and list real versions in `supportedVersions`).
    public let legacyVersion: TLSVersion
    /// Number of cipher suites offered.
    public let cipherSuiteCount: Int
    /// The SNI host name (extension 0), validated and normalised; `nil` when the client sent none (typically
    /// when it connected by IP address). With ECH this is the outer, public name.
    public let serverName: ServerName?
    /// The ALPN protocols offered (extension 16), in client preference order; empty when absent.
    public let alpnProtocols: [ALPNProtocol]
    /// The `supported_versions` list (extension 43) in client order; empty when absent (TLS ≤ 1.2 clients).
    public let supportedVersions: [TLSVersion]
    /// Every extension type, in the order sent.
    public let extensionTypes: [UInt16]
    /// Number of TLS records the ClientHello spanned.
    public let recordCount: Int
    /// Number of bytes, from the first byte given to the parser, that the ClientHello's records occupy. Bytes
    /// after them (if any) belong to later records.
    public let byteCount: Int

    /// The extension type of Encrypted Client Hello (draft-ietf-tls-esni).
    public static let encryptedClientHelloExtensionType: UInt16 = 0xFE0D

    /// Whether the client offers Encrypted Client Hello: then `serverName` is the client-facing public name,
    /// not the name of the service it wants.
    public var offersEncryptedClientHello: Bool {
        self.extensionTypes.contains(Self.encryptedClientHelloExtensionType)
    }

    /// The versions the client offers, without GREASE: `supportedVersions` if sent, else `legacyVersion`.
    public var offeredVersions: [TLSVersion] {
        if self.supportedVersions.isEmpty {
            return [self.legacyVersion]
        }
        return self.supportedVersions.filter { !$0.isGREASE }
    }

    /// `offeredVersions` for the audit line's `tls_versions`, e.g. `TLS1.3,TLS1.2`.
    public var versionsDescription: String {
        self.offeredVersions.map(\.description).joined(separator: ",")
    }

    /// The ALPN list for the audit line, e.g. `h2,http/1.1`, non-printable bytes escaped (see
    /// `ALPNProtocol.description`); empty when no ALPN was offered.
    public var alpnDescription: String {
        self.alpnProtocols.map(\.description).joined(separator: ",")
    }
}
