import PacsgateTLS
import Crypto
public import NIOCore
import NIOSSL
import PacsgateCore
import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A simulated Mach7 web node for `pacsgate demo`: HTTPS with a self-signed certificate generated at start, answering
/// every `GET` with a small page that names the node (`HTTPS1`, `HTTPS2`), so a browser or curl through the gateway
/// shows which node it reached.
///
/// The certificate and key are written to `<state_dir>/tls/<NAME>.crt` / `.key` for inspection; they are made anew at
/// every start.
public struct SimulatedHTTPSNode: SimulatedNode {
    /// The node's label.
    public let name: String
    /// The certificate in PEM.
    public let certificatePEM: String
    private let context: NIOSSLContext

    /// Generates the node's certificate (P-256, valid from an hour ago for 30 days, names `localhost` and
    /// `<name>.mach7.demo`) and writes it under `stateDirectory` unless that is empty.
    public init(name: String, stateDirectory: String) throws {
        self.name = name
        let generated = try SelfSignedCertificate(
            commonName: name,
            dnsNames: ["localhost", "\(Self.dnsLabel(name)).mach7.demo"]
        )
        self.certificatePEM = generated.certificatePEM
        if !stateDirectory.isEmpty {
            let directory = URL(fileURLWithPath: stateDirectory).appendingPathComponent("tls")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(generated.certificatePEM.utf8).write(to: directory.appendingPathComponent("\(name).crt"))
            let keyURL = directory.appendingPathComponent("\(name).key")
            try Data(generated.privateKeyPEM.utf8).write(to: keyURL)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyURL.path)
        }
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(generated.certificatePEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(generated.privateKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = TLSDefaults.cipherSuites
        configuration.applicationProtocols = ["http/1.1"]
        self.context = try NIOSSLContext(configuration: configuration)
    }

    public func configure(_ channel: any Channel) throws {
        try channel.pipeline.syncOperations.addHandlers([
            NIOSSLServerHandler(context: self.context), SimulatedWebPage(node: self.name),
        ])
    }

    /// `HTTPS1` → `https1`; anything but letters, digits and `-` becomes `-`.
    static func dnsLabel(_ name: String) -> String {
        let label = String(name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" })
        return label.isEmpty ? "node" : label
    }
}

/// A self-signed certificate and its key, made with swift-certificates and swift-crypto.
struct SelfSignedCertificate {
    let certificatePEM: String
    let privateKeyPEM: String

    init(commonName: String, dnsNames: [String], validFor days: Int = 30) throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("pacsgate demo")
            CommonName(commonName)
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(days) * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(dnsNames.map { .dnsName($0) })
            },
            issuerPrivateKey: .init(key)
        )
        self.certificatePEM = try certificate.serializeAsPEM().pemString
        self.privateKeyPEM = key.pemRepresentation
    }
}

/// Answers each HTTP/1.1 request head with a page naming the node; keeps the connection for the next request unless
/// the client asked to close.
final class SimulatedWebPage: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let node: String
    private var received: ByteBuffer?
    /// Bound on a request head; beyond it the connection is closed.
    private static let maximumHead = 16 * 1024

    init(node: String) {
        self.node = node
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if var received = self.received {
            self.received = nil
            received.writeBuffer(&bytes)
            bytes = received
        }
        while let end = bytes.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) {
            let length = end.upperBound - bytes.readerIndex
            guard let head = bytes.readString(length: length) else { break }
            let close = head.lowercased().contains("connection: close")
            context.write(self.wrapOutboundOut(self.page(for: head, close: close)), promise: nil)
            if close {
                let channel = context.channel
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer())).whenComplete { _ in
                    channel.close(promise: nil)
                }
                return
            }
        }
        if bytes.readableBytes > Self.maximumHead {
            context.close(promise: nil)
            return
        }
        self.received = bytes.readableBytes > 0 ? bytes : nil
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func page(for head: String, close: Bool) -> ByteBuffer {
        let isHead = head.hasPrefix("HEAD ")
        let body = """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>\(self.node)</title></head>
            <body><h1>Mach7 node \(self.node)</h1><p>Simulated by pacsgate demo.</p></body></html>

            """
        var response = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        response += "Content-Length: \(body.utf8.count)\r\nX-Mach7-Node: \(self.node)\r\n"
        response += close ? "Connection: close\r\n\r\n" : "\r\n"
        if !isHead { response += body }
        return ByteBuffer(string: response)
    }
}

@available(*, unavailable)
extension SimulatedWebPage: Sendable {}
