public import NIOCore

extension ProxyAddress {
    /// The address and port of an IPv4 or IPv6 socket address (`nil` for a Unix domain socket): what an engine
    /// passes to ``ProxyHeaderEncoder`` for the client and the address it connected to.
    public init?(_ socketAddress: SocketAddress) {
        switch socketAddress {
        case .v4(let address):
            var raw = address.address.sin_addr
            self.init(unchecked: withUnsafeBytes(of: &raw) { Array($0) }, port: UInt16(bigEndian: address.address.sin_port))
        case .v6(let address):
            var raw = address.address.sin6_addr
            self.init(unchecked: withUnsafeBytes(of: &raw) { Array($0) }, port: UInt16(bigEndian: address.address.sin6_port))
        case .unixDomainSocket:
            return nil
        }
    }

    /// The socket address of a header's client (for the gateway's own use of *the* client address). Never `nil` in
    /// practice: the bytes are 4 or 16 long by construction, all that `SocketAddress(packedIPAddress:port:)` needs.
    public var socketAddress: SocketAddress? {
        var buffer = ByteBuffer()
        buffer.writeBytes(self.bytes)
        return try? SocketAddress(packedIPAddress: buffer, port: Int(self.port))
    }
}
