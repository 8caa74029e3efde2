import NIOCore
import NIOSSL
public import PacsgateCore
import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `tls:` on a `dicom` or `hl7` service, read into a ``TLSTermination`` (the TLS module's ``SecureTransportProvider``,
/// handed to those modules by the executable).
///
/// ```yaml
/// tls:
///   certificate: /etc/pacsgate/tls/gateway.crt       # PEM, leaf first (required)
///   key: /etc/pacsgate/tls/gateway.key               # (required)
///   client_auth: required                             # required | optional | none (default none)
///   client_ca_file: /etc/pacsgate/tls/modalities-ca.pem   # with optional/required: the CAs client certificates chain to
///   crl_file: /etc/pacsgate/tls/modalities.crl       # optional: revoked client certificates (PEM or DER)
/// servers:
///   - { label: DICOM1, address: "…:2762", reencrypt: true, ca_file: …, server_name: …, verify: full,
///       certificate: …, key: … }                      # the gateway's client certificate for this node (default: tls's)
/// ```
///
/// Every file is read here, so `check-config` reports a bad certificate, key, CA bundle or CRL with its line before
/// any socket is bound; a reload re-reads them.
public struct TLSTransportProvider: SecureTransportProvider {
    public init() {}

    /// The server keys of re-encrypted legs.
    public var serverKeys: Set<String> { ReencryptionLegReader.keys }

    public func makeTermination(
        _ node: ConfigNode?,
        reader: inout MappingReader,
        service: ServiceConfiguration
    ) -> (any SecureTransportTermination)? {
        guard let node else {
            ReencryptionLegReader.refuseAll(
                &reader,
                context: "service '\(service.label)'",
                why: "applies only with a 'tls:' block on the service (the gateway re-encrypts what it terminated)"
            )
            return nil
        }
        let context = "service '\(service.label)' tls"
        var tls = MappingReader(node, context: context)
        let certificate = tls.string("certificate", required: true)
        let key = tls.string("key", required: true)
        let clientAuthentication = tls.choice("client_auth", ClientAuthentication.self) ?? .none
        let caFile = tls.string("client_ca_file")
        let crlFile = tls.string("crl_file")
        let line = { (key: String) in tls.entryLine(key) ?? node.line }
        tls.finish()
        reader.absorb(tls)

        var entry: TLSCertificateSet.Entry?
        if let certificate, let key {
            do {
                entry = try TLSCertificateSet.load(certificate: certificate, key: key, serverNames: [])
            } catch {
                reader.problem(line("certificate"), "\(context): certificate \(error)")
            }
        }
        var authorities: [NIOSSLCertificate] = []
        var verifier: ClientCertificateVerifier?
        var nextUpdate: WallClock.Instant?
        switch (clientAuthentication, caFile) {
        case (.none, nil):
            if crlFile != nil {
                reader.problem(
                    line("crl_file"),
                    "\(context): 'crl_file' applies only with client_auth: optional or required"
                )
            }
        case (.none, .some):
            reader.problem(
                line("client_ca_file"),
                "\(context): 'client_ca_file' applies only with client_auth: optional or required"
            )
        case (_, nil):
            reader.problem(
                line("client_auth"),
                "\(context): client_auth: \(clientAuthentication.rawValue) needs 'client_ca_file' (the CAs client certificates must chain to)"
            )
        case (_, let caFile?):
            if let loaded = Self.authorities(caFile, context: context, line: line("client_ca_file"), &reader) {
                authorities = loaded.map(\.0)
                var lists: [CertificateRevocationList]?
                if let crlFile {
                    lists = Self.revocationLists(
                        crlFile,
                        authorities: loaded.map(\.1),
                        context: context,
                        line: line("crl_file"),
                        &reader
                    )
                    nextUpdate = lists?.compactMap(\.nextUpdate).min()
                }
                if crlFile == nil || lists != nil {
                    verifier = ClientCertificateVerifier(authorities: loaded.map(\.1), revocationLists: lists)
                }
            }
        }
        let legs = ReencryptionLegReader.read(
            &reader,
            context: "service '\(service.label)'",
            applicationProtocols: [],
            defaultClientCertificate: entry
        )
        guard let entry, clientAuthentication == .none || verifier != nil else { return nil }

        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: entry.chain.map { .certificate($0) },
            privateKey: .privateKey(entry.key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = TLSDefaults.cipherSuites
        switch clientAuthentication {
        case .none: configuration.certificateVerification = .none
        case .optional: configuration.certificateVerification = .optionalVerification
        case .required: configuration.certificateVerification = .noHostnameVerification
        }
        if !authorities.isEmpty {
            // Sent as the certificate request's CA names, so a client with several certificates picks the right one.
            configuration.trustRoots = .certificates(authorities)
            configuration.sendCANameList = true
        }
        let sslContext: NIOSSLContext
        do {
            sslContext = try NIOSSLContext(configuration: configuration)
        } catch {
            reader.problem(node.line, "\(context): cannot set up TLS with these files (\(error))")
            return nil
        }
        return TLSTermination(
            service: service.label,
            protocolName: service.protocolName.rawValue,
            context: sslContext,
            certificate: entry,
            clientAuthentication: clientAuthentication,
            verifier: verifier,
            legs: legs,
            serverHandshakeTimeout: .milliseconds(service.timeouts.connect.milliseconds),
            revocationListNextUpdate: nextUpdate,
            counters: TLSServiceCounters.forService(service.label)
        )
    }

    /// The CA bundle, as NIOSSL and as swift-certificates read it.
    private static func authorities(
        _ file: String,
        context: String,
        line: Int,
        _ reader: inout MappingReader
    ) -> [(NIOSSLCertificate, Certificate)]? {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(file)
        } catch {
            reader.problem(line, "\(context): 'client_ca_file' '\(file)' cannot be read as PEM certificates (\(error))")
            return nil
        }
        guard !certificates.isEmpty else {
            reader.problem(line, "\(context): 'client_ca_file' '\(file)' holds no certificate")
            return nil
        }
        var result: [(NIOSSLCertificate, Certificate)] = []
        for certificate in certificates {
            guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else {
                reader.problem(line, "\(context): 'client_ca_file' '\(file)' holds a certificate that cannot be parsed")
                return nil
            }
            result.append((certificate, parsed))
        }
        return result
    }

    /// The CRLs of `crl_file`, each checked to be signed by a CA of the bundle.
    private static func revocationLists(
        _ file: String,
        authorities: [Certificate],
        context: String,
        line: Int,
        _ reader: inout MappingReader
    ) -> [CertificateRevocationList]? {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            reader.problem(line, "\(context): cannot read 'crl_file' '\(file)' (\(error))")
            return nil
        }
        let lists: [CertificateRevocationList]
        do {
            lists = try CertificateRevocationList.load(contents: Array(data))
        } catch {
            reader.problem(line, "\(context): 'crl_file' '\(file)' \(error)")
            return nil
        }
        for list in lists where !authorities.contains(where: { list.isSigned(by: $0) }) {
            reader.problem(
                line,
                "\(context): 'crl_file' '\(file)' holds a CRL from \(list.issuer.description) that no CA of client_ca_file signed"
            )
            return nil
        }
        return lists
    }
}
