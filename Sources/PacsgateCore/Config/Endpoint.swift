public import NIOCore

/// A host and port from the configuration: `192.168.110.150:11112`, `[::1]:11112`, `mach7-a.example.org:104`.
///
/// IP literals are resolved once, when the configuration is read; host names are resolved by the system resolver at
/// connect time.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP literal, without brackets.
    public var host: String
    public var port: Int
    /// The socket address when `host` is an IP literal.
    public var socketAddress: SocketAddress?

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
        self.socketAddress = try? SocketAddress(ipAddress: host, port: port)
    }

    /// Parses `host:port` (IPv6 in brackets). Returns a reason when the text is not a valid endpoint.
    public static func parse(_ text: String) -> Result<Endpoint, EndpointError> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.malformed("missing ']' after IPv6 address")) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.malformed("expected ':PORT' after ']'")) }
            portText = rest.dropFirst()
            guard (try? SocketAddress(ipAddress: String(host), port: 0))?.protocol == .inet6 else {
                return .failure(.badHost("'\(host)' is not an IPv6 address"))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(.malformed("expected HOST:PORT")) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return .failure(.malformed("IPv6 addresses must be written in brackets, e.g. [::1]:11112")) }
            guard Self.isValidHost(host) else { return .failure(.badHost("'\(host)' is not an IP address or host name")) }
        }
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText) else {
            return .failure(.malformed("port '\(portText)' is not a number"))
        }
        guard (1...65535).contains(port) else { return .failure(.portOutOfRange(port)) }
        return .success(Endpoint(host: String(host), port: port))
    }

    /// Whether `host` is an IPv4 literal or a syntactically valid DNS host name.
    static func isValidHost(_ host: Substring) -> Bool {
        if host.isEmpty || host.utf8.count > 253 { return false }
        let looksNumeric = host.allSatisfy { $0 == "." || ($0.isASCII && $0.isNumber) }
        if looksNumeric { return (try? SocketAddress(ipAddress: String(host), port: 0)) != nil }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-",
                label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
            else { return false }
        }
        return true
    }

    public var description: String {
        // `utf8.contains`, not `contains`: a Character search runs grapheme breaking over the host, and every audit
        // record renders its server's address.
        self.host.utf8.contains(UInt8(ascii: ":")) ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }

    public static func == (lhs: Endpoint, rhs: Endpoint) -> Bool { lhs.host == rhs.host && lhs.port == rhs.port }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.host)
        hasher.combine(self.port)
    }
}

/// Why an endpoint string was refused.
public enum EndpointError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case badHost(String)
    case portOutOfRange(Int)

    public var description: String {
        switch self {
        case .malformed(let why): return why
        case .badHost(let why): return why
        case .portOutOfRange(let port): return "port \(port) out of range (1-65535)"
        }
    }
}

extension SocketAddress {
    /// `ip:port` with IPv6 in brackets, for logs and audit records.
    public var logDescription: String {
        switch self {
        case .v4(let address):
            // Every connection's client is rendered for its audit records: written digit by digit here, where
            // `ipAddress` (inet_ntop into a C buffer, then a String) and the interpolation cost about 5,000
            // instructions a call.
            let ip = UInt32(bigEndian: address.address.sin_addr.s_addr)
            let port = UInt16(bigEndian: address.address.sin_port)
            return String(unsafeUninitializedCapacity: 21) { buffer in
                var count = 0
                func decimal(_ value: Int) {
                    if value >= 10_000 { buffer[count] = UInt8(ascii: "0") &+ UInt8(value / 10_000); count += 1 }
                    if value >= 1_000 { buffer[count] = UInt8(ascii: "0") &+ UInt8(value / 1_000 % 10); count += 1 }
                    if value >= 100 { buffer[count] = UInt8(ascii: "0") &+ UInt8(value / 100 % 10); count += 1 }
                    if value >= 10 { buffer[count] = UInt8(ascii: "0") &+ UInt8(value / 10 % 10); count += 1 }
                    buffer[count] = UInt8(ascii: "0") &+ UInt8(value % 10)
                    count += 1
                }
                func separator(_ byte: UInt8) {
                    buffer[count] = byte
                    count += 1
                }
                decimal(Int(ip >> 24))
                separator(UInt8(ascii: "."))
                decimal(Int((ip >> 16) & 0xff))
                separator(UInt8(ascii: "."))
                decimal(Int((ip >> 8) & 0xff))
                separator(UInt8(ascii: "."))
                decimal(Int(ip & 0xff))
                separator(UInt8(ascii: ":"))
                decimal(Int(port))
                return count
            }
        case .v6:
            return "[\(self.ipAddress ?? "?")]:\(self.port ?? 0)"
        default:
            return "?:\(self.port ?? 0)"
        }
    }
}
