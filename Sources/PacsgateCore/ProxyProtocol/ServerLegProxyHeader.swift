package import NIOCore

/// `send_proxy:` on a server: the PROXY protocol version the gateway writes first on every connection to it.
public enum ProxyProtocolVersion: String, Sendable, CaseIterable {
    /// The text line (`PROXY TCP4 …\r\n`), HAProxy's `send-proxy`.
    case v1
    /// The binary header with TLVs, HAProxy's `send-proxy-v2`.
    case v2
}

/// The PROXY header the gateway writes first on a server leg, before any byte of the client's (and, on a
/// re-encrypted leg, before the TLS handshake), so the server learns the client's own address. Both engines and the
/// health checks take their bytes from here.
package enum ServerLegProxyHeader {
    /// The header for a relayed connection from `client`, which connected to `destination` (the gateway's listening
    /// address): v1 `PROXY TCP4|TCP6 …` (`PROXY UNKNOWN` when an address is not known); v2 `PROXY` with the TLVs the
    /// inspector knows (``ConnectionInspector/proxyHeaderTLVs``: the SNI as `PP2_TYPE_AUTHORITY`, the negotiated ALPN)
    /// and `PP2_TYPE_SSL` when the gateway terminated the client's TLS (``ConnectionInspector/secureTransport``).
    package static func relayed(
        _ version: ProxyProtocolVersion, client: SocketAddress?, destination: SocketAddress?,
        inspector: (any ConnectionInspector)?
    ) -> ByteBuffer {
        let source = client.flatMap(ProxyAddress.init)
        let target = destination.flatMap(ProxyAddress.init)
        switch version {
        case .v1:
            return ByteBuffer(bytes: ProxyHeaderEncoder.v1(source: source, destination: target))
        case .v2:
            guard let source, let target else { return ByteBuffer(bytes: Self.v2Unspecified) }
            var tlvs = inspector?.proxyHeaderTLVs ?? []
            if let facts = inspector?.secureTransport { tlvs.append(.ssl(Self.sslInfo(facts))) }
            // Only a TLV over 65535 bytes makes the encoder throw, and none of these can be: an SNI is at most 255
            // bytes, an ALPN name 255, the SSL TLV a few names. Without TLVs the header is always encodable.
            let bytes =
                (try? ProxyHeaderEncoder.v2(source: source, destination: target, tlvs: tlvs))
                ?? (try? ProxyHeaderEncoder.v2(source: source, destination: target)) ?? Self.v2Unspecified
            return ByteBuffer(bytes: bytes)
        }
    }

    /// The header of a health check's connection, which the gateway opens itself: v2 `LOCAL` (the server uses the
    /// connection's own endpoints), v1 `PROXY UNKNOWN`.
    package static func local(_ version: ProxyProtocolVersion) -> [UInt8] {
        switch version {
        case .v1: ProxyHeaderEncoder.v1(source: nil, destination: nil)
        case .v2: ProxyHeaderEncoder.v2Local()
        }
    }

    /// The PROXY version of the server a health check is running against, set by the health monitor around each
    /// check, so every protocol's check sends the `LOCAL` header without being told.
    @TaskLocal package static var healthCheckVersion: ProxyProtocolVersion?

    /// The header the running health check sends first (read in the check's task, before its connection is made:
    /// ``ProbeConnection`` and the TLS check pass it to ``writeFirst(_:on:)`` in their channel initializers).
    package static var healthCheckHeader: [UInt8]? { Self.healthCheckVersion.map(Self.local) }

    /// Adds, first in a new connection's pipeline, a handler that writes `header` when the connection is up —
    /// before the handlers behind it (a TLS handshake, a probe) see it active — and then leaves. Nothing for `nil`.
    package static func writeFirst(_ header: [UInt8]?, on pipeline: ChannelPipeline.SynchronousOperations) throws {
        guard let header else { return }
        try pipeline.addHandler(HeaderWriter(header: header), position: .first)
    }

    /// A v2 `PROXY` header with no addresses (`AF_UNSPEC`): for a client whose address is not an IP address.
    private static let v2Unspecified: [UInt8] = ProxyHeaderParser.v2Signature + [0x21, 0x00, 0x00, 0x00]

    /// `PP2_TYPE_SSL` for a terminated client connection: the client used TLS; a certificate it presented (which
    /// the gateway verified, or the handshake would have failed) sets the certificate bits and `verify` 0.
    static func sslInfo(_ facts: SecureTransportFacts) -> ProxySSLInfo {
        let certificate = facts.clientCertificate
        var client = ProxySSLInfo.clientSSL
        if certificate != nil {
            client |= ProxySSLInfo.clientCertificateConnection | ProxySSLInfo.clientCertificateSession
        }
        return ProxySSLInfo(
            client: client, verify: certificate == nil ? 1 : 0, version: facts.version,
            commonName: certificate.flatMap { Self.commonName(ofSubject: $0.subject) }, cipher: facts.cipher)
    }

    /// The `CN=` value of a subject written as `CN=…,O=…` (RFC 4514 order or OpenSSL's), if any.
    static func commonName(ofSubject subject: String) -> String? {
        for part in subject.split(separator: ",") {
            let trimmed = part.drop { $0 == " " || $0 == "/" }
            if trimmed.hasPrefix("CN=") { return String(trimmed.dropFirst(3)) }
        }
        return nil
    }
}

/// Writes a PROXY header as its connection becomes active, then removes itself.
private final class HeaderWriter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let header: [UInt8]

    init(header: [UInt8]) {
        self.header = header
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: self.header)), promise: nil)
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
