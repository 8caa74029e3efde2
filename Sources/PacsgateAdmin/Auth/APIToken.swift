import Crypto

/// A bearer token for the JSON API (scripts, monitoring, `pacsgate ctl`).
///
/// Tokens are long random strings, so a fast hash is enough to keep them out of the configuration file: the file holds
/// `sha256:` and the hex digest; the token itself is shown once by `pacsgate hash-password --token`.
public struct APIToken: Sendable, Equatable {
    /// What a token may do; each scope includes the ones before it.
    public enum Scope: String, Sendable, CaseIterable, Comparable, Codable {
        /// `GET /metrics` only (Prometheus).
        case metrics
        /// The overview, the recent audit records and the configuration with its hashes and secrets redacted.
        case read
        /// Also drain, halt, online, weights and reload.
        case operate
        /// Also upload a configuration (users, tokens, everything) and read it unredacted.
        case admin

        public static func < (lhs: Scope, rhs: Scope) -> Bool {
            Self.allCases.firstIndex(of: lhs)! < Self.allCases.firstIndex(of: rhs)!
        }
    }

    /// The SHA-256 digest of a token.
    public struct Digest: Sendable, Equatable, CustomStringConvertible {
        public let bytes: [UInt8]

        /// The digest of `token`.
        public init(of token: String) {
            self.bytes = Array(SHA256.hash(data: Array(token.utf8)))
        }

        /// Parses `sha256:` followed by 64 hex digits.
        public init?(text: String) {
            guard text.hasPrefix("sha256:") else { return nil }
            let hex = Array(text.utf8.dropFirst(7))
            guard hex.count == 64 else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(32)
            var index = 0
            while index < 64 {
                guard let high = Self.nibble(hex[index]), let low = Self.nibble(hex[index + 1]) else { return nil }
                bytes.append(high << 4 | low)
                index += 2
            }
            self.bytes = bytes
        }

        private static func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }

        /// `sha256:` and the lowercase hex digest, as the configuration stores it.
        public var description: String {
            "sha256:" + self.bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }

        /// Compares in time independent of where the digests differ.
        public func matches(_ other: Digest) -> Bool {
            guard self.bytes.count == other.bytes.count else { return false }
            var difference: UInt8 = 0
            for index in self.bytes.indices { difference |= self.bytes[index] ^ other.bytes[index] }
            return difference == 0
        }

        public static func == (lhs: Digest, rhs: Digest) -> Bool { lhs.matches(rhs) }
    }

    /// Shortest token accepted in plain form.
    public static let minimumLength = 24

    /// Shown in audit records as the acting principal (`token:NAME`).
    public var name: String
    public var digest: Digest
    /// What it may do (`read` unless the configuration says otherwise).
    public var scope: Scope

    public init(name: String, digest: Digest, scope: Scope = .read) {
        self.name = name
        self.digest = digest
        self.scope = scope
    }

    /// A new random token: 32 random bytes in URL-safe base 64 without padding (43 characters).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Base64URL.encode(bytes)
    }
}

/// URL-safe base 64 without padding (session ids, CSRF tokens, API tokens).
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(value >> 18 & 63)], alphabet[Int(value >> 12 & 63)], alphabet[Int(value >> 6 & 63)], alphabet[Int(value & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let value = UInt32(bytes[index]) << 16
            out += [alphabet[Int(value >> 18 & 63)], alphabet[Int(value >> 12 & 63)]]
        } else if rest == 2 {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(value >> 18 & 63)], alphabet[Int(value >> 12 & 63)], alphabet[Int(value >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `count` random bytes from the system's secure generator, encoded.
    static func random(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return encode((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
