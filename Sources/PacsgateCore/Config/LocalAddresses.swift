import NIOCore

/// Whether an address belongs to this host, for `source:` (check-config refuses one it does not have).
enum LocalAddresses {
    /// The interfaces' addresses come from NIO's `System.enumerateDevices` (getifaddrs); all of 127.0.0.0/8 is local
    /// on Linux although only 127.0.0.1 is listed.
    static func contains(_ address: SocketAddress) -> Bool {
        guard let host = address.ipAddress else { return false }
        if case .v4 = address, host.hasPrefix("127.") { return true }
        let devices = (try? System.enumerateDevices()) ?? []
        return devices.contains { $0.address?.ipAddress == host }
    }
}
