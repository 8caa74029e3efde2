import HummingbirdBcrypt
import NIOPosix

/// Salted, slow password hashes (bcrypt, as kept by hummingbird-auth) for admin users.
///
/// Hashing and verifying take a deliberate fraction of a second, so both run on NIO's blocking thread pool, never
/// on an event loop or the cooperative pool.
public enum PasswordHasher {
    /// The cost `pacsgate hash-password` uses: 2^12 rounds (a few hundred milliseconds per check).
    public static let defaultCost: UInt8 = 12
    /// bcrypt ignores bytes after the 72nd; longer passwords are refused rather than silently cut.
    public static let maximumPasswordBytes = 72

    /// Why a password cannot be hashed.
    public enum PasswordError: Error, Equatable, CustomStringConvertible {
        case tooShort(minimum: Int)
        case tooLong(maximum: Int)
        case containsNUL

        public var description: String {
            switch self {
            case .tooShort(let minimum): return "the password must be at least \(minimum) characters"
            case .tooLong(let maximum): return "the password must be at most \(maximum) bytes (bcrypt ignores the rest)"
            case .containsNUL: return "the password must not contain NUL characters"
            }
        }
    }

    /// The shortest password `hash-password` accepts.
    public static let minimumPasswordLength = 10

    /// Checks that `password` can be hashed without loss.
    public static func validate(_ password: String) throws(PasswordError) {
        if password.count < Self.minimumPasswordLength { throw .tooShort(minimum: Self.minimumPasswordLength) }
        if password.utf8.count > Self.maximumPasswordBytes { throw .tooLong(maximum: Self.maximumPasswordBytes) }
        if password.utf8.contains(0) { throw .containsNUL }
    }

    /// A new bcrypt hash of `password` (synchronous: for the CLI and tests).
    public static func hash(_ password: String, cost: UInt8 = PasswordHasher.defaultCost) throws(PasswordError) -> String {
        try Self.validate(password)
        return Bcrypt.hash(password, cost: cost)
    }

    /// Whether `password` matches `hash`, computed on the blocking thread pool.
    public static func verify(_ password: String, hash: String) async -> Bool {
        // bcrypt reads C strings: a NUL would end the password early and let a prefix match.
        guard !password.utf8.contains(0), password.utf8.count <= Self.maximumPasswordBytes, Self.isWellFormedHash(hash)
        else { return false }
        do {
            return try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
        } catch {
            return false
        }
    }

    /// Whether `text` has the shape of a bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a two-digit cost from 04 to 31, `$`,
    /// and 53 characters of bcrypt's base-64 alphabet.
    public static func isWellFormedHash(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
            [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2]), bytes[3] == UInt8(ascii: "$"),
            bytes[6] == UInt8(ascii: "$")
        else { return false }
        guard let cost = Int(String(decoding: bytes[4...5], as: UTF8.self)), (4...31).contains(cost) else { return false }
        return bytes[7...].allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "/")
        }
    }
}
