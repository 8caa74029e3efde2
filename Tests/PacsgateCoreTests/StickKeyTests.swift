import NIOCore
import Testing

@testable import PacsgateCore

@Suite struct StickKeyTests {
    private func address(_ ip: String, _ port: Int = 40000) -> SocketAddress {
        try! SocketAddress(ipAddress: ip, port: port)
    }

    @Test func ipv4() throws {
        let key = try #require(StickKey(clientAddress: address("192.168.110.7", 50123)))
        #expect(key.kind == .ipv4)
        #expect(key.description == "192.168.110.7")
        #expect(key == StickKey(clientAddress: address("192.168.110.7", 11112)), "the port is ignored")
        #expect(key != StickKey(clientAddress: address("192.168.110.8", 50123)))
        #expect(key.words.high == 0)
        #expect(key.words.low == 0xC0A8_6E07)
        #expect(key.words.length == 4)
        #expect(StickKey(clientAddress: address("0.0.0.0"))?.description == "0.0.0.0")
        #expect(StickKey(clientAddress: address("255.255.255.255"))?.description == "255.255.255.255")
    }

    @Test func ipv6() throws {
        let key = try #require(StickKey(clientAddress: address("fe80:1:22:333:4444:5:6:7", 50123)))
        #expect(key.kind == .ipv6)
        #expect(key.description == "fe80:1:22:333:4444:5:6:7")
        #expect(key == StickKey(clientAddress: address("fe80:1:22:333:4444:5:6:7", 1)), "the port is ignored")
        #expect(key.words.high == 0xfe80_0001_0022_0333)
        #expect(key.words.low == 0x4444_0005_0006_0007)
        // Zeros are written out, not compressed.
        #expect(StickKey(clientAddress: address("2001:db8::7"))?.description == "2001:db8:0:0:0:0:0:7")
        #expect(StickKey(clientAddress: address("::1"))?.description == "0:0:0:0:0:0:0:1")
        // An IPv4-mapped address is an IPv6 key, distinct from the IPv4 one.
        let mapped = try #require(StickKey(clientAddress: address("::ffff:192.168.110.7")))
        #expect(mapped.kind == .ipv6)
        #expect(mapped != StickKey(clientAddress: address("192.168.110.7")))
    }

    @Test(arguments: ["192.168.110.7", "10.0.0.1", "fe80:1:22:333:4444:5:6:7", "2001:db8::7", "::1", "::"])
    func descriptionReadsBackAsTheSameKey(ip: String) throws {
        let key = try #require(StickKey(clientAddress: address(ip)))
        #expect(StickKey(clientAddress: address(key.description)) == key)
    }

    @Test func unixSocketHasNoKey() throws {
        #expect(StickKey(clientAddress: try SocketAddress(unixDomainSocketPath: "/tmp/pacsgate.sock")) == nil)
    }

    @Test(arguments: ["", "A", "MODALITY1", "CT_SCANNER_01", "ABCDEFGHIJKLMNOP", "ÉÉÉÉÉÉÉÉ", "AE TITLE  "])
    func textRoundTrips(text: String) throws {
        let key = try #require(StickKey(text: text))
        #expect(key.kind == .text)
        #expect(key.description == text)
        #expect(Int(key.words.length) == text.utf8.count)
    }

    @Test func textLongerThan16BytesIsRefused() {
        #expect(StickKey(text: "ABCDEFGHIJKLMNOPQ") == nil)
        #expect(StickKey(text: "ÉÉÉÉÉÉÉÉÉ") == nil, "9 × 2 UTF-8 bytes")
        #expect(StickKey(text: "ABCDEFGHIJKLMNOP") != nil)
    }

    @Test func textKeysCompareByEveryByteAndTheLength() throws {
        #expect(StickKey(text: "MODALITY1") == StickKey(text: "MODALITY1"))
        #expect(StickKey(text: "MODALITY1") != StickKey(text: "MODALITY2"))
        #expect(
            StickKey(text: "ABCDEFGHIJKLMNOP") != StickKey(text: "ABCDEFGHIJKLMNOQ"),
            "a difference in the 16th byte"
        )
        #expect(StickKey(text: "A") != StickKey(text: "A\0"), "same bits, different length")
        #expect(StickKey(text: "") != StickKey(text: "\0"))
        // A text key never equals an address key with the same bits.
        let ipv4 = try #require(StickKey(clientAddress: address("65.0.0.0")))
        let text = StickKey(kind: .text, words: ipv4.words)
        #expect(text != ipv4)
    }

    @Test func wordsRoundTrip() throws {
        for key in [
            StickKey(text: "MODALITY1"), StickKey(clientAddress: address("192.168.110.7")),
            StickKey(clientAddress: address("2001:db8::7")),
        ] {
            let key = try #require(key)
            #expect(StickKey(kind: key.kind, words: key.words) == key)
        }
        // A length beyond 16 from the wire is clamped.
        let clamped = StickKey(
            kind: .text,
            words: (high: 0x4141_4141_4141_4141, low: 0x4141_4141_4141_4141, length: 200)
        )
        #expect(clamped.words.length == 16)
        #expect(clamped.description == "AAAAAAAAAAAAAAAA")
    }

    @Test func hashValue64() throws {
        let a = try #require(StickKey(clientAddress: address("192.168.110.7", 1)))
        let b = try #require(StickKey(clientAddress: address("192.168.110.7", 2)))
        let c = try #require(StickKey(clientAddress: address("192.168.110.8")))
        #expect(a.hashValue64 == b.hashValue64)
        #expect(a.hashValue64 != c.hashValue64)
        // Pinned (computed independently): source hashing must agree across restarts and with the HA peer.
        #expect(a.hashValue64 == 0x5bc8_c7d6_2c65_5ef6)
    }
}
