import NIOCore
import NIOSSL
import PacsgateCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads the `protocol: tls` keys of one service mapping (and of its servers) into a ``TLSServiceProtocol``.
///
/// Service keys: `mode`, `sni_routes`, `default_servers`, `unknown_sni`, `max_hello_bytes`; with `mode: terminate`
/// also `certificate` + `key`, `certificates`, `alpn`, `fallback_page`, `forwarded_headers`. Server keys (terminate only,
/// ``ReencryptionLegReader``): `reencrypt`, `verify`, `ca_file`, `server_name`, `certificate`, `key`. Every problem
/// is recorded with its line; certificate, key and CA files are loaded here, so `check-config` finds a bad file
/// before any socket is bound.
enum TLSServiceConfiguration {
    /// Keys of a server mapping the module reads.
    static let serverKeys: Set<String> = ReencryptionLegReader.keys

    /// Keys that only make sense when the gateway terminates TLS.
    private static let terminateOnlyKeys = ["certificate", "key", "certificates", "alpn", "fallback_page", "forwarded_headers"]

    static func read(_ reader: inout MappingReader, service: ServiceConfiguration) -> TLSServiceProtocol? {
        let context = "service '\(service.label)'"
        let labels = service.servers.map(\.label)
        let mode = reader.choice("mode", TLSMode.self) ?? .passthrough

        let routes = Self.readRoutes(&reader, context: context, labels: labels)
        var defaultServers: Set<String>? = nil
        if let list = reader.stringList("default_servers") {
            let line = reader.entryLine("default_servers") ?? reader.line
            defaultServers = Self.validated(
                list,
                labels: labels,
                line: line,
                what: "\(context): 'default_servers'",
                &reader
            )
            if list.isEmpty { reader.problem(line, "\(context): 'default_servers' must name at least one server") }
        }
        let unknown = reader.choice("unknown_sni", UnknownServerNamePolicy.self) ?? .default
        let maxHello =
            reader.byteSize("max_hello_bytes", in: 1024...(64 * 1024)) ?? ClientHelloParser.defaultMaximumBytes

        var termination: TLSServiceProtocol.Termination? = nil
        var legs: [String: ReencryptionLeg] = [:]
        var forwardedHeaders = false
        switch mode {
        case .passthrough:
            for key in Self.terminateOnlyKeys where reader.has(key) {
                _ = reader.node(key)
                reader.problem(
                    reader.entryLine(key) ?? reader.line,
                    "\(context): '\(key)' applies only with 'mode: terminate' (in passthrough the gateway holds no certificate)"
                )
            }
            Self.readServers(&reader, context: context, mode: mode, applicationProtocols: [], legs: &legs)
        case .terminate:
            let alpn = Self.readALPN(&reader, context: context)
            forwardedHeaders = reader.bool("forwarded_headers") ?? false
            if forwardedHeaders, alpn.contains("h2") {
                reader.problem(
                    reader.entryLine("alpn") ?? reader.line,
                    "\(context): 'forwarded_headers: true' sets the headers on HTTP/1.1 requests only; remove h2 from 'alpn' (clients then use HTTP/1.1)")
            }
            termination = Self.readTermination(&reader, context: context, applicationProtocols: alpn)
            Self.readServers(&reader, context: context, mode: mode, applicationProtocols: alpn, legs: &legs)
            if termination == nil { return nil }
        }

        let machine = TLSConnectionStateMachine.Configuration(
            mode: mode,
            parser: ClientHelloParser(maximumBytes: maxHello),
            routes: routes,
            defaultServers: defaultServers,
            unknownServerName: unknown
        )
        return TLSServiceProtocol(
            label: service.label,
            machine: machine,
            termination: termination,
            legs: legs,
            serverHandshakeTimeout: .milliseconds(service.timeouts.connect.milliseconds),
            forwardedHeaders: forwardedHeaders
        )
    }

    // MARK: routing

    /// `sni_routes`: a mapping from host name or `*.domain` to a server label or a list of labels.
    private static func readRoutes(
        _ reader: inout MappingReader,
        context: String,
        labels: [String]
    ) -> SNIRouteTable<SNIRoute> {
        guard let node = reader.node("sni_routes") else { return SNIRouteTable() }
        guard case .mapping(let entries) = node.kind else {
            if case .null = node.kind { return SNIRouteTable() }
            reader.problem(
                node.line,
                "\(context): 'sni_routes' must map host names to servers, e.g. 'viewer.example.org: [HTTPS1]'"
            )
            return SNIRouteTable()
        }
        var routes: [(pattern: String, route: SNIRoute)] = []
        for entry in entries {
            let what = "\(context): sni_routes '\(entry.key)'"
            var servers: [String] = []
            switch entry.value.kind {
            case .scalar(let label):
                servers = [label]
            case .sequence(let items):
                for item in items {
                    guard let label = item.scalar else {
                        reader.problem(item.line, "\(what): list server labels only")
                        continue
                    }
                    servers.append(label)
                }
            case .mapping, .null:
                reader.problem(entry.line, "\(what): give a server label or a list of labels")
            }
            if servers.isEmpty {
                if case .sequence = entry.value.kind { reader.problem(entry.line, "\(what): names no server") }
                continue
            }
            let valid = Self.validated(servers, labels: labels, line: entry.line, what: what, &reader)
            do {
                _ = try SNIRouteTable([(pattern: entry.key, route: 0)])
            } catch {
                reader.problem(entry.line, "\(context): \(error)")
                continue
            }
            routes.append((pattern: entry.key, route: SNIRoute(pattern: entry.key, servers: valid)))
        }
        do {
            return try SNIRouteTable(routes)
        } catch {
            let line = entries.first { $0.key == error.pattern }?.line ?? node.line
            reader.problem(line, "\(context): \(error)")
            return SNIRouteTable()
        }
    }

    private static func validated(
        _ list: [String],
        labels: [String],
        line: Int,
        what: String,
        _ reader: inout MappingReader
    ) -> Set<String> {
        var result: Set<String> = []
        for label in list {
            if labels.contains(label) {
                result.insert(label)
            } else {
                reader.problem(
                    line,
                    "\(what): no server labelled '\(label)' (servers: \(labels.joined(separator: ", ")))"
                )
            }
        }
        return result
    }

    // MARK: termination

    private static func readALPN(_ reader: inout MappingReader, context: String) -> [String] {
        guard let list = reader.stringList("alpn") else { return ["http/1.1"] }
        let line = reader.entryLine("alpn") ?? reader.line
        var protocols: [String] = []
        for name in list {
            guard (1...255).contains(name.utf8.count), name.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                reader.problem(line, "\(context): 'alpn' entry '\(name)' is not a protocol identifier such as http/1.1")
                continue
            }
            protocols.append(name)
        }
        if list.isEmpty { reader.problem(line, "\(context): 'alpn' must list at least one protocol (e.g. http/1.1)") }
        return protocols
    }

    private static func readTermination(
        _ reader: inout MappingReader,
        context: String,
        applicationProtocols: [String]
    ) -> TLSServiceProtocol.Termination? {
        var entries: [TLSCertificateSet.Entry] = []
        let hasCertificate = reader.has("certificate") || reader.has("key")
        if hasCertificate {
            let certificate = reader.string("certificate")
            let key = reader.string("key")
            if let certificate, let key {
                if let entry = Self.load(
                    certificate: certificate,
                    key: key,
                    serverNames: nil,
                    &reader,
                    line: reader.entryLine("certificate") ?? reader.line
                ) {
                    entries.append(entry)
                }
            } else {
                reader.problem(reader.line, "\(context): 'certificate' and 'key' go together")
            }
        }
        if let node = reader.node("certificates") {
            if case .sequence(let items) = node.kind, !items.isEmpty {
                for item in items {
                    var nested = MappingReader(item, context: "\(context) certificates entry")
                    let certificate = nested.string("certificate", required: true)
                    let key = nested.string("key", required: true)
                    let names = nested.stringList("server_names")
                    let namesLine = nested.entryLine("server_names") ?? item.line
                    nested.finish()
                    reader.absorb(nested)
                    if let names {
                        for name in names where !TLSCertificateSet.isValidPattern(name) {
                            reader.problem(
                                namesLine,
                                "\(context): server_names entry '\(name)' is not a host name or *.domain"
                            )
                        }
                    }
                    guard let certificate, let key else { continue }
                    if let entry = Self.load(
                        certificate: certificate,
                        key: key,
                        serverNames: names,
                        &reader,
                        line: item.line
                    ) {
                        entries.append(entry)
                    }
                }
            } else {
                reader.problem(
                    node.line,
                    "\(context): 'certificates' must be a non-empty list of {certificate, key, server_names}"
                )
            }
        } else if !hasCertificate {
            reader.problem(
                reader.line,
                "\(context): 'mode: terminate' needs 'certificate' and 'key' (or a 'certificates' list)"
            )
        }

        var page = FallbackPage.builtIn
        if let text = reader.string("fallback_page") {
            let line = reader.entryLine("fallback_page") ?? reader.line
            if let html = Self.fallbackHTML(text, context: context, line: line, &reader) {
                page = FallbackPage(html: html)
            }
        }

        guard let certificates = TLSCertificateSet(entries) else { return nil }
        do {
            let sslContext = try NIOSSLContext(
                configuration: certificates.serverConfiguration(applicationProtocols: applicationProtocols)
            )
            return TLSServiceProtocol.Termination(
                context: sslContext,
                certificates: certificates,
                applicationProtocols: applicationProtocols,
                fallbackPage: page
            )
        } catch {
            reader.problem(reader.line, "\(context): cannot set up TLS with these certificates (\(error))")
            return nil
        }
    }

    private static func load(
        certificate: String,
        key: String,
        serverNames: [String]?,
        _ reader: inout MappingReader,
        line: Int
    ) -> TLSCertificateSet.Entry? {
        do {
            return try TLSCertificateSet.load(certificate: certificate, key: key, serverNames: serverNames)
        } catch {
            reader.problem(line, "certificate \(error)")
            return nil
        }
    }

    /// `fallback_page`: inline HTML (starting with `<`) or the path of an HTML file, read now.
    private static func fallbackHTML(
        _ text: String,
        context: String,
        line: Int,
        _ reader: inout MappingReader
    ) -> String? {
        if text.drop(while: { $0.isWhitespace }).hasPrefix("<") { return text }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: text))
        } catch {
            reader.problem(line, "\(context): cannot read 'fallback_page' file '\(text)' (\(error))")
            return nil
        }
        guard data.count <= FallbackPage.maximumSize else {
            reader.problem(line, "\(context): 'fallback_page' file '\(text)' is larger than 1 MiB")
            return nil
        }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: servers

    private static func readServers(
        _ reader: inout MappingReader,
        context: String,
        mode: TLSMode,
        applicationProtocols: [String],
        legs: inout [String: ReencryptionLeg]
    ) {
        guard mode == .terminate else {
            ReencryptionLegReader.refuseAll(
                &reader,
                context: context,
                why: "applies only with 'mode: terminate' (in passthrough the client's TLS reaches the server untouched)"
            )
            return
        }
        legs = ReencryptionLegReader.read(
            &reader,
            context: context,
            applicationProtocols: applicationProtocols,
            defaultClientCertificate: nil
        )
    }
}

/// Reads the per-server keys of re-encrypted legs (`reencrypt`, `verify`, `ca_file`, `server_name`, `certificate`,
/// `key`) from a service's `servers` list, for terminating `protocol: tls` services and for `tls:` on `dicom` and
/// `hl7` services.
enum ReencryptionLegReader {
    static let keys: Set<String> = ["reencrypt", "verify", "ca_file", "server_name", "certificate", "key"]

    /// Every server's leg, by label; problems (with lines) go into `reader`.
    ///
    /// - Parameter defaultClientCertificate: presented to servers that set no `certificate`/`key` of their own.
    static func read(
        _ reader: inout MappingReader,
        context: String,
        applicationProtocols: [String],
        defaultClientCertificate: TLSCertificateSet.Entry?
    ) -> [String: ReencryptionLeg] {
        var legs: [String: ReencryptionLeg] = [:]
        for (item, label) in Self.servers(&reader) {
            let where_ = "\(context) server '\(label)'"
            var server = MappingReader(item, context: where_)
            let known = server.problems.count  // the core reported these already
            let reencrypt = server.bool("reencrypt")
            let verify = server.choice("verify", ServerCertificateVerification.self)
            let caFile = server.string("ca_file")
            let serverName = server.string("server_name")
            let certificate = server.string("certificate")
            let key = server.string("key")
            for problem in server.problems.dropFirst(known) { reader.problem(problem.line, problem.message) }

            guard reencrypt == true else {
                for key in ["verify", "ca_file", "server_name", "certificate", "key"] where server.has(key) {
                    reader.problem(
                        server.entryLine(key) ?? item.line,
                        "\(where_): '\(key)' applies only with 'reencrypt: true'"
                    )
                }
                continue
            }
            var options = TLSServerOptions(
                reencrypt: true,
                verify: verify ?? .full,
                caFile: caFile,
                clientCertificate: certificate,
                clientKey: key
            )
            if let serverName {
                do {
                    options.serverName = try ServerName(serverName)
                } catch {
                    reader.problem(server.entryLine("server_name") ?? item.line, "\(where_): 'server_name' \(error)")
                }
            }
            if options.verify == .none, caFile != nil {
                reader.problem(
                    server.entryLine("ca_file") ?? item.line,
                    "\(where_): 'ca_file' is unused with 'verify: none'"
                )
            }
            var clientCertificate = defaultClientCertificate
            switch (certificate, key) {
            case (let certificate?, let key?):
                do {
                    clientCertificate = try TLSCertificateSet.load(certificate: certificate, key: key, serverNames: [])
                } catch {
                    reader.problem(server.entryLine("certificate") ?? item.line, "\(where_): certificate \(error)")
                    continue
                }
            case (nil, nil):
                break
            default:
                reader.problem(item.line, "\(where_): 'certificate' and 'key' go together")
                continue
            }
            do {
                legs[label] = try ReencryptionLeg(
                    options: options,
                    applicationProtocols: applicationProtocols,
                    clientCertificate: clientCertificate
                )
            } catch {
                reader.problem(server.entryLine("ca_file") ?? item.line, "\(where_): \(error)")
            }
        }
        return legs
    }

    /// Reports every leg key of every server as misplaced (`why`).
    static func refuseAll(_ reader: inout MappingReader, context: String, why: String) {
        for (item, label) in Self.servers(&reader) {
            let server = MappingReader(item, context: "")
            for key in Self.keys.sorted() where server.has(key) {
                reader.problem(server.entryLine(key) ?? item.line, "\(context) server '\(label)': '\(key)' \(why)")
            }
        }
    }

    /// The server mappings with a label (the core reports the others).
    private static func servers(_ reader: inout MappingReader) -> [(ConfigNode, String)] {
        guard let node = reader.node("servers"), case .sequence(let items) = node.kind else { return [] }
        return items.compactMap { item in
            guard case .mapping = item.kind, let label = MappingReader(item, context: "").peekString("label") else {
                return nil
            }
            return (item, label)
        }
    }
}
