import NIOCore
import Testing

@testable import PacsgateCore

/// The `accept_proxy` gate's verdicts and the `send_proxy` header bytes, without sockets (the engines' behaviour with
/// real peers is in `AcceptProxyTests` and `SendProxyTests`).
@Suite("PROXY protocol: accept_proxy gate and send_proxy header")
struct ProxyHeaderGateTests {
    static let upstream = try! SocketAddress(ipAddress: "10.0.0.5", port: 40000)
    static let stranger = try! SocketAddress(ipAddress: "192.0.2.1", port: 40000)
    static let networks = [ClientNetwork("10.0.0.0/24")!]

    static func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test("a trusted source: a complete header gives the client address and its length; a partial one waits")
    func trusted() throws {
        let gate = ProxyHeaderGate(source: Self.upstream, networks: Self.networks)
        #expect(gate.trusted)
        let line = "PROXY TCP4 127.0.0.9 10.0.0.1 4000 11112\r\n"
        #expect(gate.examine(Self.bytes(String(line.prefix(20)))) == .needMore)
        let client = try SocketAddress(ipAddress: "127.0.0.9", port: 4000)
        #expect(gate.examine(Self.bytes(line + "\u{1}rest")) == .proxied(client: client, length: line.utf8.count))
        // LOCAL / UNKNOWN keep the socket's address.
        #expect(gate.examine(Self.bytes("PROXY UNKNOWN\r\n")) == .proxied(client: nil, length: 15))
        #expect(gate.examine(ByteBuffer(bytes: ProxyHeaderEncoder.v2Local())) == .proxied(client: nil, length: 16))
        guard case .refuse(let reason) = gate.examine(Self.bytes("\u{1}\u{0}")) else {
            Issue.record("a DICOM PDU from a trusted source was not refused")
            return
        }
        #expect(reason.hasPrefix("bad PROXY protocol header"))
        #expect(gate.timedOut(received: 3) == "no complete PROXY protocol header within peek_timeout (3 bytes received)")
        #expect(gate.closedEarly(received: 0) != nil)
    }

    @Test("an untrusted source: a PROXY signature is refused, anything else is a plain client")
    func untrusted() {
        let gate = ProxyHeaderGate(source: Self.stranger, networks: Self.networks)
        #expect(!gate.trusted)
        #expect(gate.examine(Self.bytes("PRO")) == .needMore)
        #expect(
            gate.examine(Self.bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))
                == .refuse("a PROXY protocol header from a source outside accept_proxy"))
        #expect(
            gate.examine(ByteBuffer(bytes: ProxyHeaderParser.v2Signature))
                == .refuse("a PROXY protocol header from a source outside accept_proxy"))
        #expect(gate.examine(ByteBuffer(bytes: Array(ProxyHeaderParser.v2Signature.prefix(5)))) == .needMore)
        #expect(gate.examine(Self.bytes("POST / HTTP/1.1\r\n")) == .plain)
        #expect(gate.examine(ByteBuffer(bytes: [0x01, 0x00, 0x00])) == .plain)
        #expect(gate.timedOut(received: 0) == nil)
        #expect(gate.timedOut(received: 2) != nil)
        #expect(gate.closedEarly(received: 0) == nil)
    }

    @Test("send_proxy headers: v1 line, v2 with the inspector's TLVs and PP2_TYPE_SSL, LOCAL for health checks")
    func serverLegHeaders() throws {
        let client = try SocketAddress(ipAddress: "127.0.0.9", port: 4000)
        let gateway = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        let v1 = ServerLegProxyHeader.relayed(.v1, client: client, destination: gateway, inspector: nil)
        #expect(String(buffer: v1) == "PROXY TCP4 127.0.0.9 127.0.0.1 4000 443\r\n")
        #expect(String(buffer: ServerLegProxyHeader.relayed(.v1, client: nil, destination: gateway, inspector: nil))
            == "PROXY UNKNOWN\r\n")

        let inspector = TLVInspector(
            tlvs: [.authority("a.mach7.test"), .alpn(Array("h2".utf8))],
            facts: SecureTransportFacts(version: "TLS1.3", cipher: "TLS_AES_128_GCM_SHA256", clientCertificate: nil))
        let v2 = ServerLegProxyHeader.relayed(.v2, client: client, destination: gateway, inspector: inspector)
        guard case .header(let header, let length) = ProxyHeaderParser().parse(v2) else {
            Issue.record("the v2 header does not parse")
            return
        }
        #expect(length == v2.readableBytes)
        #expect(header.clientAddress?.description == "127.0.0.9:4000")
        #expect(header.destinationAddress?.description == "127.0.0.1:443")
        #expect(header.authority == "a.mach7.test")
        #expect(header.alpn == Array("h2".utf8))
        #expect(header.ssl?.client == ProxySSLInfo.clientSSL)
        #expect(header.ssl?.verify == 1, "no client certificate: not verified")
        #expect(header.ssl?.version == "TLS1.3")
        #expect(header.ssl?.cipher == "TLS_AES_128_GCM_SHA256")

        #expect(ServerLegProxyHeader.local(.v2) == ProxyHeaderEncoder.v2Local())
        #expect(ServerLegProxyHeader.local(.v1) == Array("PROXY UNKNOWN\r\n".utf8))
        #expect(ServerLegProxyHeader.commonName(ofSubject: "CN=modality-7,O=Hospital") == "modality-7")
        #expect(ServerLegProxyHeader.commonName(ofSubject: "O=Hospital") == nil)
    }
}

private final class TLVInspector: ConnectionInspector {
    let tlvs: [ProxyTLV]
    let facts: SecureTransportFacts?

    init(tlvs: [ProxyTLV], facts: SecureTransportFacts?) {
        self.tlvs = tlvs
        self.facts = facts
    }

    var proxyHeaderTLVs: [ProxyTLV] { self.tlvs }
    var secureTransport: SecureTransportFacts? { self.facts }
    func inspect(_ buffered: ByteBuffer) -> InspectionVerdict { .needMore }
    func peekFailed(_ failure: PeekFailure) -> Rejection { Rejection(reason: "test") }
    func unavailable(_ reason: UnavailableReason) -> Rejection { Rejection(reason: "test") }
}
