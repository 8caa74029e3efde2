import Crypto
import NIOCore
import NIOSSL
import PacsgateCore
import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns certificates into the core's ``PeerCertificate`` (what audit records and `certificate:` bindings see).
enum PeerCertificateReader {
    /// The identity of a parsed certificate; `der` is its encoding (hashed for the fingerprint).
    static func identity(of certificate: Certificate, der: [UInt8]) -> PeerCertificate {
        var names: [SubjectAlternativeName] = []
        if let alternatives = try? certificate.extensions.subjectAlternativeNames {
            for name in alternatives {
                switch name {
                case .dnsName(let value): names.append(SubjectAlternativeName(.dns, value))
                case .rfc822Name(let value): names.append(SubjectAlternativeName(.email, value))
                case .uniformResourceIdentifier(let value): names.append(SubjectAlternativeName(.uri, value))
                case .ipAddress(let octets):
                    if let text = Self.ipText(Array(octets.bytes)) { names.append(SubjectAlternativeName(.ip, text)) }
                default: break
                }
            }
        }
        return PeerCertificate(
            subject: certificate.subject.description,
            issuer: certificate.issuer.description,
            subjectAlternativeNames: names,
            sha256Fingerprint: Self.fingerprint(der),
            serialNumber: Self.serialText(certificate.serialNumber),
            notValidAfter: WallClock.Instant(date: certificate.notValidAfter)
        )
    }

    /// The identity of a certificate from NIOSSL; `nil` if it cannot be parsed.
    static func identity(of certificate: NIOSSLCertificate) -> PeerCertificate? {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else {
            return nil
        }
        return self.identity(of: parsed, der: der)
    }

    /// `AB:CD:…`, as `openssl x509 -noout -fingerprint -sha256` prints it.
    static func fingerprint(_ der: [UInt8]) -> String {
        let digest = SHA256.hash(data: der)
        return digest.map { Self.hex($0) }.joined(separator: ":")
    }

    /// The serial number in upper-case hex without the sign byte, as `openssl x509 -noout -serial` prints it.
    static func serialText(_ serial: Certificate.SerialNumber) -> String {
        var bytes = serial.bytes.drop { $0 == 0 }
        if bytes.isEmpty { bytes = [0] }
        return bytes.map { Self.hex($0) }.joined()
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    /// `10.1.2.3` or `fd00::1` from a 4- or 16-byte address.
    static func ipText(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4:
            return bytes.map(String.init).joined(separator: ".")
        case 16:
            return (try? SocketAddress(packedIPAddress: ByteBuffer(bytes: bytes), port: 0))?.ipAddress
        default:
            return nil
        }
    }
}

extension WallClock.Instant {
    /// The instant of a Foundation date, to the millisecond.
    init(date: Date) {
        self.init(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }
}
