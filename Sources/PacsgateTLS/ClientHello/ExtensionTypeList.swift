/// The extension types of a ClientHello in the order they appear, refusing repeats.
///
/// Real hellos carry about 10–25 extensions, checked by a linear scan without further allocation. A hostile
/// hello can pack about 4,000 empty extensions into 16 KiB; past `linearScanLimit` a set keeps the check
/// linear in time.
struct ExtensionTypeList {
    private static let linearScanLimit = 32

    private(set) var types: [UInt16]
    private var seen: Set<UInt16> = []

    init() {
        self.types = []
        self.types.reserveCapacity(Self.linearScanLimit)
    }

    /// Appends `type` and returns `true`, or returns `false` if it is already present.
    mutating func append(_ type: UInt16) -> Bool {
        if self.types.count < Self.linearScanLimit {
            guard !self.types.contains(type) else {
                return false
            }
        } else {
            if self.seen.isEmpty {
                self.seen = Set(self.types)
            }
            guard self.seen.insert(type).inserted else {
                return false
            }
        }
        self.types.append(type)
        return true
    }
}
