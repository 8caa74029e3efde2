import Foundation
import PacsgateCore
import PacsgateTestSupport
import SwiftASN1
import Testing
import X509

@testable import PacsgateTLS

/// The CRL reader (`crl_file`): real CRLs from `openssl ca`, PEM and DER, and every malformed input it refuses, with
/// the exact words `check-config` prints.
@Suite("CRL reader", .timeLimit(.minutes(2)))
struct CertificateRevocationListTests {
    // MARK: real CRLs

    @Test("a CRL from openssl ca (PEM and DER): issuer, next update, the revoked serial and the signature")
    func realCRL() async throws {
        try await withScratch { directory in
            let ca = try await TestCA.make("Test Hospital CA", in: directory)
            let other = try await TestCA.make("Other CA", in: directory)
            let good = try await ca.issue("good", commonName: "ct1.hospital.example", alternativeNames: ["DNS:ct1.hospital.example"])
            let stolen = try await ca.issue("stolen", commonName: "ct2.hospital.example", alternativeNames: ["DNS:ct2.hospital.example"])
            try await ca.revoke(stolen.certificate)
            for der in [false, true] {
                let path = try await ca.crl(named: der ? "list.der" : "list.pem", hours: 5, der: der)
                let lists = try CertificateRevocationList.load(contents: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
                #expect(lists.count == 1)
                let list = try #require(lists.first)
                #expect(list.issuer.description == "CN=Test Hospital CA")
                let due = try #require(list.nextUpdate)
                let hours = Double(due.millisecondsSinceEpoch - list.thisUpdate.millisecondsSinceEpoch) / 3_600_000
                #expect(hours == 5)
                #expect(list.revocation(of: try Self.serial(stolen.certificate)) != nil)
                #expect(list.revocation(of: try Self.serial(good.certificate)) == nil)
                #expect(list.isSigned(by: try Self.certificate(ca.certificate)))
                #expect(!list.isSigned(by: try Self.certificate(other.certificate)))
            }
        }
    }

    @Test("a PEM file may hold several CRLs; other PEM blocks are ignored")
    func severalLists() async throws {
        try await withScratch { directory in
            let first = try await TestCA.make("First CA", in: directory)
            let second = try await TestCA.make("Second CA", in: directory)
            let a = try String(contentsOfFile: try await first.crl(), encoding: .utf8)
            let b = try String(contentsOfFile: try await second.crl(), encoding: .utf8)
            let certificate = try String(contentsOfFile: first.certificate, encoding: .utf8)
            let lists = try CertificateRevocationList.load(contents: Array((a + certificate + b).utf8))
            #expect(lists.map(\.issuer.description) == ["CN=First CA", "CN=Second CA"])
        }
    }

    // MARK: bad input

    @Test("an empty file")
    func empty() {
        #expect(throws: CRLParseError.empty) { try CertificateRevocationList.load(contents: []) }
        #expect(CRLParseError.empty.description == "is empty")
    }

    @Test("text that is not PEM, and PEM without a CRL")
    func notPEM() async throws {
        #expect(throws: CRLParseError.pem("holds no 'X509 CRL' block")) {
            try CertificateRevocationList.load(contents: Array("this is not a certificate revocation list\n".utf8))
        }
        try await withScratch { directory in
            let ca = try await TestCA.make("Some CA", in: directory)
            let certificate = try String(contentsOfFile: ca.certificate, encoding: .utf8)
            let error = CRLParseError.pem("holds no 'X509 CRL' block (found: CERTIFICATE)")
            #expect(throws: error) { try CertificateRevocationList.load(contents: Array(certificate.utf8)) }
            #expect(error.description == "is not a PEM CRL file: holds no 'X509 CRL' block (found: CERTIFICATE)")
        }
        let broken = "-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n"
        #expect(throws: CRLParseError.pem("no PEM block could be read")) {
            try CertificateRevocationList.load(contents: Array(broken.utf8))
        }
    }

    @Test("DER that is cut short or is not a SEQUENCE of three")
    func badDER() {
        #expect(throws: CRLParseError.notDER("truncatedASN1Field")) {
            try CertificateRevocationList.load(contents: [0x30, 0x10, 0x02, 0x01])
        }
        let two = DER.sequence([DER.sequence([]), DER.sequence([])])
        #expect(throws: CRLParseError.structure("CertificateList has 2 elements, expected 3")) {
            try CertificateRevocationList.parse(der: two)
        }
        #expect(
            CRLParseError.structure("CertificateList has 2 elements, expected 3").description
                == "is not a CRL: CertificateList has 2 elements, expected 3"
        )
    }

    @Test("each field of tbsCertList is checked")
    func badFields() throws {
        let time = DER.utcTime("260101000000Z")
        let issuer = DER.sequence([])  // an empty Name is a valid DistinguishedName
        func list(_ tbs: [[UInt8]], outerAlgorithm: [UInt8] = DER.ecdsaSHA256, bits: [UInt8] = DER.bitString([1, 2]))
            -> [UInt8]
        {
            DER.sequence([DER.sequence(tbs), outerAlgorithm, bits])
        }
        let cases: [([UInt8], CRLParseError)] = [
            (list([DER.integer(2), DER.ecdsaSHA256, issuer, time]), .unsupportedVersion(2)),
            (list([DER.integer(1)]), .structure("tbsCertList ends before its signature algorithm")),
            (list([DER.ecdsaSHA256, issuer, time], outerAlgorithm: DER.rsaSHA256), .signatureAlgorithmMismatch),
            (
                list([DER.algorithm([1, 2, 840, 113_549, 1, 1, 5]), issuer, time], outerAlgorithm: DER.algorithm([1, 2, 840, 113_549, 1, 1, 5])),
                .unsupportedSignatureAlgorithm([1, 2, 840, 113_549, 1, 1, 5])
            ),
            (list([DER.ecdsaSHA256, DER.integer(5), time]), .structure("tbsCertList has no issuer name")),
            (list([DER.ecdsaSHA256, issuer]), .structure("tbsCertList has no thisUpdate time")),
            (list([DER.ecdsaSHA256, issuer, DER.utcTime("26010100000Z")]), .invalidTime("thisUpdate")),
            (list([DER.ecdsaSHA256, issuer, time, time, DER.integer(7)]), .structure("tbsCertList has 1 unexpected elements")),
            (
                list([DER.ecdsaSHA256, issuer, time, DER.sequence([DER.sequence([DER.integer(7)])])]),
                .structure("a revoked certificate entry is not { serial, date [, extensions] }")
            ),
            (
                list([DER.ecdsaSHA256, issuer, time, DER.sequence([DER.sequence([DER.integer(7), DER.integer(8)])])]),
                .structure("a revoked certificate entry has no revocation date")
            ),
            (
                list([DER.ecdsaSHA256, issuer, time, DER.explicit0([DER.sequence([DER.extensionBytes([2, 5, 29, 27], critical: true)])])]),
                .unsupportedCriticalExtension("deltaCRLIndicator (2.5.29.27)", place: "the CRL")
            ),
            (
                list([
                    DER.ecdsaSHA256, issuer, time,
                    DER.sequence([DER.sequence([DER.integer(7), time, DER.sequence([DER.extensionBytes([2, 5, 29, 29], critical: true)])])]),
                ]),
                .unsupportedCriticalExtension("certificateIssuer (2.5.29.29)", place: "a revoked certificate entry")
            ),
            (list([DER.ecdsaSHA256, issuer, time], bits: DER.integer(1)), .structure("signatureValue is not a BIT STRING")),
        ]
        for (bytes, expected) in cases {
            #expect(throws: expected) { try CertificateRevocationList.parse(der: bytes) }
        }
        #expect(CRLParseError.unsupportedVersion(2).description == "is a CRL of version 3; only version 2 is read")
        #expect(
            CRLParseError.unsupportedCriticalExtension("deltaCRLIndicator (2.5.29.27)", place: "the CRL").description
                == "has a critical extension deltaCRLIndicator (2.5.29.27) in the CRL, which is not supported (delta and indirect CRLs are not read)"
        )
        // Non-critical extensions it does not know, and known ones, are fine; a v1 list without version works.
        let fine = list([
            DER.ecdsaSHA256, issuer, time, time,
            DER.sequence([DER.sequence([DER.integer(0x1004), time, DER.sequence([DER.extensionBytes([2, 5, 29, 21], critical: false)])])]),
            DER.explicit0([DER.sequence([DER.extensionBytes([1, 2, 3, 4], critical: false)])]),
        ])
        let parsed = try CertificateRevocationList.parse(der: fine)
        #expect(parsed.revocation(of: Certificate.SerialNumber(bytes: [0x00, 0x10, 0x04])) != nil)
        #expect(parsed.revocation(of: Certificate.SerialNumber(bytes: [0x10, 0x05])) == nil)
    }

    // MARK: helpers

    static func certificate(_ path: String) throws -> Certificate {
        try Certificate(pemEncoded: String(contentsOfFile: path, encoding: .utf8))
    }

    static func serial(_ path: String) throws -> Certificate.SerialNumber {
        try Self.certificate(path).serialNumber
    }
}

/// A scratch directory for one test, removed afterwards.
func withScratch<T>(_ body: (String) async throws -> T) async throws -> T {
    let directory = NSTemporaryDirectory() + "pacsgate-tls-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try await body(directory)
}

/// Hand-built DER for malformed CRLs.
enum DER {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8]
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            var bytes: [UInt8] = []
            var value = content.count
            while value > 0 {
                bytes.insert(UInt8(value & 0xFF), at: 0)
                value >>= 8
            }
            length = [0x80 | UInt8(bytes.count)] + bytes
        }
        return [tag] + length + content
    }

    static func sequence(_ items: [[UInt8]]) -> [UInt8] { Self.tlv(0x30, items.flatMap { $0 }) }
    static func integer(_ value: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var rest = value
        repeat {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        } while rest > 0
        if bytes[0] & 0x80 != 0 { bytes.insert(0, at: 0) }
        return Self.tlv(0x02, bytes)
    }
    static func bitString(_ bytes: [UInt8]) -> [UInt8] { Self.tlv(0x03, [0] + bytes) }
    static func utcTime(_ text: String) -> [UInt8] { Self.tlv(0x17, Array(text.utf8)) }
    static func explicit0(_ items: [[UInt8]]) -> [UInt8] { Self.tlv(0xA0, items.flatMap { $0 }) }

    static func oid(_ components: [UInt]) -> [UInt8] {
        var bytes = [UInt8(components[0] * 40 + components[1])]
        for component in components.dropFirst(2) {
            var chunk: [UInt8] = [UInt8(component & 0x7F)]
            var rest = component >> 7
            while rest > 0 {
                chunk.insert(UInt8(rest & 0x7F) | 0x80, at: 0)
                rest >>= 7
            }
            bytes += chunk
        }
        return Self.tlv(0x06, bytes)
    }

    static func algorithm(_ components: [UInt]) -> [UInt8] { Self.sequence([Self.oid(components)]) }
    static let ecdsaSHA256 = DER.algorithm([1, 2, 840, 10045, 4, 3, 2])
    static let rsaSHA256 = DER.algorithm([1, 2, 840, 113_549, 1, 1, 11])

    static func extensionBytes(_ oid: [UInt], critical: Bool) -> [UInt8] {
        Self.sequence([Self.oid(oid)] + (critical ? [Self.tlv(0x01, [0xFF])] : []) + [Self.tlv(0x04, [0x05, 0x00])])
    }
}
