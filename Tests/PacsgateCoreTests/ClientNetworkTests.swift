import Testing

@testable import PacsgateCore

@Suite struct ClientNetworkAddressKeyTests {
    private func key(_ high: UInt64, _ low: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * $0)) }
    }

    @Test func ipv4WithAndWithoutPortIsIPv4Mapped() {
        #expect(ClientNetwork.addressKey("192.168.1.7") == self.key(0, 0xffff_c0a8_0107))
        #expect(ClientNetwork.addressKey("192.168.1.7:104") == self.key(0, 0xffff_c0a8_0107))
        #expect(ClientNetwork.addressKey("0.0.0.0:0") == self.key(0, 0xffff_0000_0000))
        #expect(ClientNetwork.addressKey("255.255.255.255") == self.key(0, 0xffff_ffff_ffff))
        // The port is not read, on either path.
        #expect(ClientNetwork.addressKey("10.0.0.1:") == self.key(0, 0xffff_0a00_0001))
    }

    @Test func ipv6AndMappedForms() {
        #expect(ClientNetwork.addressKey("::1") == self.key(0, 1))
        #expect(ClientNetwork.addressKey("[::1]:11112") == self.key(0, 1))
        #expect(ClientNetwork.addressKey("::ffff:10.0.0.1") == ClientNetwork.addressKey("10.0.0.1"))
        #expect(ClientNetwork.addressKey("[2001:db8::7]:104") == self.key(0x2001_0db8_0000_0000, 7))
    }

    /// What the byte-wise IPv4 reader leaves to the general path comes out as that path decides.
    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", ".1.2.3", "1.2.3.", "01.2.3.4", "1.2.3.4:5:6", "a.b.c.d",
        "1.2.3.4 ", "?", "host.example:104",
    ])
    func malformedIPv4IsNotAKey(text: String) {
        #expect(ClientNetwork.addressKey(text) == nil)
    }
}
