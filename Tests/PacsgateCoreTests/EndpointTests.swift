import NIOCore
import Testing

@testable import PacsgateCore

@Suite struct EndpointTests {
    private func parsed(_ text: String) throws -> Endpoint {
        try Endpoint.parse(text).get()
    }

    private func failure(_ text: String) -> EndpointError? {
        guard case .failure(let error) = Endpoint.parse(text) else { return nil }
        return error
    }

    @Test func ipv4() throws {
        let endpoint = try parsed("192.168.110.150:11112")
        #expect(endpoint.host == "192.168.110.150")
        #expect(endpoint.port == 11112)
        #expect(endpoint.socketAddress == (try SocketAddress(ipAddress: "192.168.110.150", port: 11112)))
        #expect(endpoint.description == "192.168.110.150:11112")
    }

    @Test(arguments: ["mach7-a.example.org", "localhost", "PACS01", "a-b.c-d.e"])
    func hostNames(host: String) throws {
        let endpoint = try parsed("\(host):104")
        #expect(endpoint.host == host)
        #expect(endpoint.port == 104)
        #expect(endpoint.socketAddress == nil, "host names are resolved at connect time")
        #expect(endpoint.description == "\(host):104")
    }

    @Test func bracketedIPv6() throws {
        let endpoint = try parsed("[::1]:11112")
        #expect(endpoint.host == "::1")
        #expect(endpoint.port == 11112)
        #expect(endpoint.socketAddress == (try SocketAddress(ipAddress: "::1", port: 11112)))
        #expect(endpoint.description == "[::1]:11112")
        #expect(try parsed("[2001:db8::7]:104").description == "[2001:db8::7]:104")
    }

    @Test(arguments: [
        ("::1:11112", EndpointError.malformed("IPv6 addresses must be written in brackets, e.g. [::1]:11112")),
        ("2001:db8::7:104", .malformed("IPv6 addresses must be written in brackets, e.g. [::1]:11112")),
        ("[::1", .malformed("missing ']' after IPv6 address")),
        ("[::1]", .malformed("expected ':PORT' after ']'")),
        ("[::1]11112", .malformed("expected ':PORT' after ']'")),
        ("[10.0.0.1]:104", .badHost("'10.0.0.1' is not an IPv6 address")),
        ("[mach7]:104", .badHost("'mach7' is not an IPv6 address")),
        ("mach7.example.org", .malformed("expected HOST:PORT")),
        ("", .malformed("expected HOST:PORT")),
        ("mach7:", .malformed("port '' is not a number")),
        ("mach7:abc", .malformed("port 'abc' is not a number")),
        ("mach7:+104", .malformed("port '+104' is not a number")),
        ("mach7: 104", .malformed("port ' 104' is not a number")),
        ("mach7:99999999999999999999", .malformed("port '99999999999999999999' is not a number")),
        ("[::1]:x", .malformed("port 'x' is not a number")),
        ("mach7:0", .portOutOfRange(0)),
        ("mach7:65536", .portOutOfRange(65536)),
        ("[::1]:70000", .portOutOfRange(70000)),
        (":104", .badHost("'' is not an IP address or host name")),
        ("999.1.1.1:104", .badHost("'999.1.1.1' is not an IP address or host name")),
        ("10.0.0:104", .badHost("'10.0.0' is not an IP address or host name")),
        ("not_a_host:104", .badHost("'not_a_host' is not an IP address or host name")),
        ("-mach7:104", .badHost("'-mach7' is not an IP address or host name")),
        ("mach7-:104", .badHost("'mach7-' is not an IP address or host name")),
        ("mach7..example:104", .badHost("'mach7..example' is not an IP address or host name")),
        ("mach 7:104", .badHost("'mach 7' is not an IP address or host name")),
    ])
    func refused(text: String, expected: EndpointError) {
        #expect(self.failure(text) == expected)
    }

    @Test func portBounds() throws {
        #expect(try parsed("mach7:1").port == 1)
        #expect(try parsed("mach7:65535").port == 65535)
    }

    @Test func hostNameLengthLimits() throws {
        let label63 = String(repeating: "a", count: 63)
        #expect(try parsed("\(label63).example:104").host == "\(label63).example")
        let label64 = String(repeating: "a", count: 64)
        #expect(
            self.failure("\(label64).example:104") == .badHost("'\(label64).example' is not an IP address or host name")
        )
        // 4 labels of 63 + 3 dots = 255 bytes: over the 253 limit.
        let long = [label63, label63, label63, label63].joined(separator: ".")
        #expect(self.failure("\(long):104") == .badHost("'\(long)' is not an IP address or host name"))
    }

    @Test func errorDescriptions() {
        #expect(EndpointError.portOutOfRange(0).description == "port 0 out of range (1-65535)")
        #expect(EndpointError.malformed("expected HOST:PORT").description == "expected HOST:PORT")
        #expect(EndpointError.badHost("'x' is bad").description == "'x' is bad")
    }

    @Test func equalityIgnoresResolvedAddress() {
        var a = Endpoint(host: "10.0.0.1", port: 104)
        let b = Endpoint(host: "10.0.0.1", port: 104)
        a.socketAddress = nil
        #expect(a == b)
        #expect(Set([a, b]).count == 1)
        #expect(Endpoint(host: "10.0.0.1", port: 104) != Endpoint(host: "10.0.0.1", port: 105))
        #expect(Endpoint(host: "10.0.0.1", port: 104) != Endpoint(host: "10.0.0.2", port: 104))
    }

    @Test func logDescription() throws {
        #expect(try SocketAddress(ipAddress: "192.168.110.7", port: 50123).logDescription == "192.168.110.7:50123")
        #expect(try SocketAddress(ipAddress: "::1", port: 11112).logDescription == "[::1]:11112")
        #expect(try SocketAddress(ipAddress: "2001:db8::7", port: 104).logDescription == "[2001:db8::7]:104")
        #expect(try SocketAddress(unixDomainSocketPath: "/tmp/pacsgate.sock").logDescription == "?:0")
        #expect(try SocketAddress(ipAddress: "::ffff:10.1.2.3", port: 7).logDescription == "[::ffff:10.1.2.3]:7")
    }

    /// IPv4 is written digit by digit: every octet and port width, against the text `inet_ntop` gives.
    @Test(arguments: ["0.0.0.0", "1.2.3.4", "9.10.99.100", "127.0.0.1", "192.168.110.7", "255.255.255.255"], [0, 7, 42, 104, 9999, 11112, 65535])
    func logDescriptionOfIPv4(ip: String, port: Int) throws {
        let address = try SocketAddress(ipAddress: ip, port: port)
        #expect(address.ipAddress == ip)
        #expect(address.logDescription == "\(ip):\(port)")
    }

    @Test func endpointDescription() {
        #expect(Endpoint(host: "10.0.0.1", port: 104).description == "10.0.0.1:104")
        #expect(Endpoint(host: "::1", port: 11112).description == "[::1]:11112")
        #expect(Endpoint(host: "mach7-a.example.org", port: 104).description == "mach7-a.example.org:104")
    }
}
