/// A DICOM Application Entity title as carried in A-ASSOCIATE-RQ/-AC (PS3.8 Table 9-11).
///
/// Keeps the 16 wire bytes and the title with its padding removed. Compare ``title`` (byte
/// exact, case sensitive) for allow-lists, but only when ``validation`` is acceptable: invalid
/// bytes are decoded with replacement characters and several raw values may then look alike.
public struct AETitle: Sendable, Hashable, CustomStringConvertible {
    /// Size of an AE title field on the wire.
    public static let wireLength = 16

    /// The bytes exactly as on the wire: 16 for parsed titles, space padded to 16 for built ones.
    public let rawBytes: [UInt8]

    /// The title without leading spaces and without trailing spaces or NUL padding.
    public let title: String

    /// Creates a title to send, e.g. `try AETitle("GW-HEALTH")`.
    /// - Throws: the defect when `title` is not a valid AE title (NUL padding is not accepted here).
    public init(_ title: String) throws(AETitleDefect) {
        let bytes = Array(title.utf8)
        switch AETitle.validate(bytes) {
        case .valid:
            break
        case .nulPadded:
            throw .forbiddenByte(0, offset: bytes.firstIndex(of: 0) ?? 0)
        case .invalid(let defect):
            throw defect
        }
        self.init(wireBytes: bytes + Array(repeating: 0x20, count: AETitle.wireLength - bytes.count))
    }

    /// Creates a title from received bytes (any content; see ``validation``).
    init(wireBytes: [UInt8]) {
        self.rawBytes = wireBytes
        let content = AETitle.contentRange(wireBytes)
        self.title = String(decoding: wireBytes[content], as: UTF8.self)
    }

    /// How ``rawBytes`` fares against the AE title rules.
    public var validation: AETitleValidation { AETitle.validate(self.rawBytes) }

    /// The trimmed title.
    public var description: String { self.title }

    /// Checks bytes against the AE rules (PS3.8 Table 9-11, PS3.5 §6.2 VR AE): at most 16 bytes
    /// of ISO 646 G0 (0x20–0x7E) without backslash, not all spaces. NUL bytes are tolerated as
    /// trailing padding only, and flagged.
    public static func validate(_ bytes: some Collection<UInt8>) -> AETitleValidation {
        guard bytes.count <= wireLength else { return .invalid(.tooLong(byteCount: bytes.count)) }
        var lastContent = -1
        for (offset, byte) in bytes.enumerated() where byte != 0x20 && byte != 0x00 {
            lastContent = offset
        }
        guard lastContent >= 0 else { return .invalid(.empty) }
        var nulPadded = false
        for (offset, byte) in bytes.enumerated() {
            if offset > lastContent {
                nulPadded = nulPadded || byte == 0x00
            } else if byte < 0x20 || byte > 0x7E || byte == 0x5C {
                return .invalid(.forbiddenByte(byte, offset: offset))
            }
        }
        return nulPadded ? .nulPadded : .valid
    }

    /// Index range of `bytes` without leading spaces and trailing spaces/NULs.
    private static func contentRange(_ bytes: [UInt8]) -> Range<Int> {
        guard let last = bytes.lastIndex(where: { $0 != 0x20 && $0 != 0x00 }) else { return 0..<0 }
        let first = bytes.firstIndex(where: { $0 != 0x20 }) ?? last
        return first..<(last + 1)
    }
}

/// Result of ``AETitle/validate(_:)``.
public enum AETitleValidation: Sendable, Hashable {
    /// Conforms to the AE rules.
    case valid
    /// Conforms except that NUL bytes pad it: seen in the wild, tolerated, worth flagging.
    case nulPadded
    /// Breaks the rules.
    case invalid(AETitleDefect)

    /// `true` for ``valid`` and ``nulPadded``.
    public var isAcceptable: Bool {
        if case .invalid = self { return false }
        return true
    }
}

/// What makes an AE title invalid.
public enum AETitleDefect: Error, Sendable, Hashable, CustomStringConvertible {
    /// More than 16 bytes.
    case tooLong(byteCount: Int)
    /// Nothing but spaces (or padding): "no name", which PS3.8 forbids.
    case empty
    /// A control character, backslash, NUL inside the title, or a byte above 0x7E.
    case forbiddenByte(UInt8, offset: Int)

    /// One operator-readable line.
    public var description: String {
        switch self {
        case .tooLong(let count): "AE title is \(count) bytes long (at most 16 allowed)"
        case .empty: "AE title is empty or all spaces"
        case .forbiddenByte(let byte, let offset): "AE title has forbidden byte \(hexByte(byte)) at offset \(offset)"
        }
    }
}
