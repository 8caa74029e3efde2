/// Order statistics of measured samples.
public enum Statistics {
    /// The `fraction` quantile (0…1) of `sorted` by the nearest-rank method; `nil` when empty.
    ///
    /// Nearest rank: the smallest sample such that at least `fraction` of all samples are ≤ it. p99 of 100 samples is
    /// the 99th, p99.9 of 100 samples is the largest.
    public static func quantile(_ sorted: [Double], _ fraction: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let clamped = min(max(fraction, 0), 1)
        let rank = Int((clamped * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// Median, minimum and maximum of `values` (the median of an even count is the mean of the middle two).
    public static func spread(_ values: [Double]) -> Spread? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        return Spread(median: median, min: sorted[0], max: sorted[sorted.count - 1], count: sorted.count)
    }
}

/// Median with the range it came from.
public struct Spread: Codable, Sendable, Equatable {
    /// The median (the mean of the middle two for an even count).
    public var median: Double
    /// The smallest value.
    public var min: Double
    /// The largest value.
    public var max: Double
    /// Number of values (rounds).
    public var count: Int

    public init(median: Double, min: Double, max: Double, count: Int) {
        self.median = median
        self.min = min
        self.max = max
        self.count = count
    }
}
