import Foundation
import PacsgateCore

/// The fields of the gateway's JSON audit records that the audit messages are built from, as the DICOM, HL7, TLS
/// and admin modules write them (`docs/dicom.md`, `docs/hl7.md`, `docs/tls.md`, `docs/admin.md`). Only what a
/// message uses is decoded; a record missing a required field is not exported (it is counted).
enum GatewayAuditRecord {
    /// `client_certificate` of the records of a TLS service with client authentication.
    struct ClientCertificate: Decodable {
        var subject: String
        var san: [String]
        var sha256: String

        /// `CN=… (SAN DNS:…; SHA-256 AB:…)`: the requesting participant's `UserName`.
        var identity: String {
            let names = self.san.isEmpty ? "" : "SAN \(self.san.joined(separator: ", ")); "
            return "\(self.subject) (\(names)SHA-256 \(self.sha256))"
        }
    }

    /// `dicom.association`: one association, written when it ended.
    struct DICOMAssociation: Decodable {
        struct Server: Decodable {
            var label: String
            var address: String
        }

        struct Reject: Decodable {
            var result: Int
            var source: Int
            var reason: Int
            var description: String
        }

        struct Abort: Decodable {
            var by: String
            var description: String
        }

        var time: String
        var service: String
        var client: String
        var server: Server?
        var callingAE: String?
        var calledAE: String?
        var outcome: String
        var reject: Reject?
        var abort: Abort?
        var error: String?
        var durationMs: Int?
        var end: String?
        var clientCertificate: ClientCertificate?

        enum CodingKeys: String, CodingKey {
            case time, service, client, server, outcome, reject, abort, error, end
            case callingAE = "calling_ae"
            case calledAE = "called_ae"
            case durationMs = "duration_ms"
            case clientCertificate = "client_certificate"
        }
    }

    /// `hl7.rejected`: client input the gateway refused to forward.
    /// `proxy.refused`: a connection refused by a service's `accept_proxy` gate (a missing, malformed, truncated or
    /// too slow PROXY header from an upstream, or a header from a source outside `accept_proxy`).
    struct ProxyRefused: Decodable {
        var time: String
        var service: String
        var client: String
        var reason: String
    }

    struct HL7Rejected: Decodable {
        var time: String
        var service: String
        var client: String
        var reason: String
        var detail: String
        var action: String
        var nakCode: String?
        var sendingApp: String?
        var sendingFacility: String?
        var messageType: String?
        var controlID: String?
        var clientCertificate: ClientCertificate?

        enum CodingKeys: String, CodingKey {
            case time, service, client, reason, detail, action
            case nakCode = "nak_code"
            case sendingApp = "sending_app"
            case sendingFacility = "sending_facility"
            case messageType = "message_type"
            case controlID = "control_id"
            case clientCertificate = "client_certificate"
        }
    }

    /// `tls.connection`: one TLS connection, written when it ended.
    struct TLSConnection: Decodable {
        var time: String
        var service: String
        var client: String
        var sni: String?
        var outcome: String
        var refusal: String?
        var reason: String?
        var clientCertificate: ClientCertificate?

        enum CodingKeys: String, CodingKey {
            case time, service, client, sni, outcome, refusal, reason
            case clientCertificate = "client_certificate"
        }
    }

    /// `admin.login` and `admin.logout`.
    struct AdminSession: Decodable {
        var time: String
        var user: String
        var client: String
        var result: String
    }

    /// `admin.change`: a server state or weight change, a reload or an upload.
    struct AdminChange: Decodable {
        var time: String
        var user: String
        var what: String
        var service: String?
        var server: String?
        var before: Scalar?
        var after: Scalar?
        var result: String?
        var error: String?
        var added: [String]?
        var removed: [String]?
        var changed: [String]?
    }

    /// A JSON value that is a string or a number (`before`/`after` of `admin.change`).
    enum Scalar: Decodable, CustomStringConvertible {
        case text(String)
        case number(Int)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int.self) {
                self = .number(number)
            } else {
                self = .text(try container.decode(String.self))
            }
        }

        var description: String {
            switch self {
            case .text(let text): text
            case .number(let number): String(number)
            }
        }
    }

    /// Decodes `line` as `T`; `nil` when it does not have the fields.
    static func decode<T: Decodable>(_ type: T.Type, from line: String) -> T? {
        try? JSONDecoder().decode(type, from: Data(line.utf8))
    }
}

extension WallClock.Instant {
    /// Parses the audit records' `time` (`2026-11-25T22:13:55.412Z`; the fraction is optional).
    init?(iso8601 text: String) {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes.last == UInt8(ascii: "Z"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var milliseconds = 0
        if bytes[19] == UInt8(ascii: ".") {
            let digits = bytes.count - 1 - 20
            guard (1...9).contains(digits), let fraction = number(20..<(bytes.count - 1)) else { return nil }
            var scaled = fraction
            if digits < 3 {
                for _ in digits..<3 { scaled *= 10 }
            } else {
                for _ in 3..<digits { scaled /= 10 }
            }
            milliseconds = scaled
        } else if bytes.count != 20 {
            return nil
        }
        self.init(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, millisecond: milliseconds)
    }
}
