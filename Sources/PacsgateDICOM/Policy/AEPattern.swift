/// An AE title or a `*` pattern from the configuration (`MACH7`, `CT*`, `*-ARCHIVE`, `*`).
///
/// Matching is byte-exact and case-sensitive (AE titles are compared as sent, PS3.8 Table 9-11) against the title
/// with its padding removed. `*` matches any run of bytes, including none; there is no other wildcard.
public struct AEPattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    public let text: String
    /// The literal pieces between the `*`s (`CT*01` → `["CT", "01"]`).
    private let pieces: [[UInt8]]
    /// Whether the pattern contains a `*` at all.
    private let isWildcard: Bool

    /// Why a configured pattern is not acceptable.
    public enum Defect: Error, Sendable, Hashable, CustomStringConvertible {
        /// Empty, or only spaces.
        case empty
        /// The literal part is longer than an AE title can be.
        case tooLong(Int)
        /// A byte an AE title cannot contain (control characters, backslash, non-ASCII).
        case forbiddenCharacter(UInt8)

        /// One line for `check-config`.
        public var description: String {
            switch self {
            case .empty: "is empty"
            case .tooLong(let count): "has \(count) characters besides '*' (an AE title has at most 16)"
            case .forbiddenCharacter(let byte): "contains byte \(hexByte(byte)), which no AE title may contain"
            }
        }
    }

    /// Parses a configured pattern.
    public init(_ text: String) throws(Defect) {
        // Leading and trailing spaces are not significant in an AE title (PS3.5 §6.2), so not in a pattern either.
        var bytes = Array(text.utf8)
        while bytes.last == 0x20 { bytes.removeLast() }
        while bytes.first == 0x20 { bytes.removeFirst() }
        let star = UInt8(ascii: "*")
        guard !bytes.isEmpty else { throw .empty }
        for byte in bytes where byte < 0x20 || byte > 0x7E || byte == 0x5C {
            throw .forbiddenCharacter(byte)
        }
        let literal = bytes.filter { $0 != star }.count
        guard literal <= AETitle.wireLength else { throw .tooLong(literal) }
        self.text = text
        self.isWildcard = bytes.contains(star)
        self.pieces = bytes.split(separator: star, omittingEmptySubsequences: false).map(Array.init)
    }

    /// Whether `title` (the trimmed title bytes) matches.
    public func matches(_ title: some Collection<UInt8>) -> Bool {
        let title = Array(title)
        guard self.isWildcard else { return title == self.pieces[0] }
        // pieces.first is anchored at the start, pieces.last at the end, the middle ones float left to right.
        guard let first = self.pieces.first, let last = self.pieces.last, title.count >= first.count + last.count,
            title.starts(with: first), title.reversed().starts(with: last.reversed())
        else { return false }
        var position = first.count
        let end = title.count - last.count
        for piece in self.pieces.dropFirst().dropLast() where !piece.isEmpty {
            guard let found = Self.find(piece, in: title, from: position, before: end) else { return false }
            position = found + piece.count
        }
        return true
    }

    /// Whether the trimmed title of `title` matches.
    public func matches(_ title: AETitle) -> Bool {
        self.matches(title.trimmedBytes)
    }

    /// Whether the pattern is a plain title (no `*`).
    public var isExact: Bool { !self.isWildcard }

    /// The pattern as written.
    public var description: String { self.text }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int, before end: Int) -> Int? {
        guard needle.count <= end - start else { return nil }
        var index = start
        while index + needle.count <= end {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

extension AETitle {
    /// The wire bytes without leading spaces and trailing spaces/NUL padding: what patterns and the audit log see.
    public var trimmedBytes: ArraySlice<UInt8> {
        guard let last = self.rawBytes.lastIndex(where: { $0 != 0x20 && $0 != 0x00 }) else { return [] }
        let first = self.rawBytes.firstIndex(where: { $0 != 0x20 }) ?? last
        return self.rawBytes[first...last]
    }

    /// The trimmed title for logs and audit records: printable ASCII as is, any other byte (and backslash) as
    /// `\xNN`, so a hostile title can neither forge a line nor hide bytes.
    public var auditText: String {
        String(printableASCII: self.trimmedBytes)
    }
}
