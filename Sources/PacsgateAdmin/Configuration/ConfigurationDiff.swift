/// A unified diff of two configuration texts (`diff -u` style, three lines of context), shown before a change made in
/// the page is applied. The line matching is the standard library's `difference(from:)` (Myers' algorithm); this
/// type only groups its result into hunks.
public struct ConfigurationDiff: Sendable, Equatable, Encodable {
    /// One line of a hunk.
    public struct Line: Sendable, Equatable, Encodable {
        public enum Kind: String, Sendable, Encodable {
            case context = " "
            case removed = "-"
            case added = "+"
        }

        public var kind: Kind
        public var text: String
    }

    /// A run of changed lines with their context: `@@ -oldStart,oldCount +newStart,newCount @@`.
    public struct Hunk: Sendable, Equatable, Encodable {
        public var oldStart: Int
        public var oldCount: Int
        public var newStart: Int
        public var newCount: Int
        public var lines: [Line]

        public var header: String { "@@ -\(self.oldStart),\(self.oldCount) +\(self.newStart),\(self.newCount) @@" }
    }

    public var hunks: [Hunk]

    public var isEmpty: Bool { self.hunks.isEmpty }

    public init(from old: String, to new: String, context: Int = 3) {
        let oldLines = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let newLines = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var removed = Set<Int>()
        var inserted = Set<Int>()
        for change in newLines.difference(from: oldLines) {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        // Every line of both texts in order, with its line numbers (1-based).
        var all: [(line: Line, old: Int, new: Int)] = []
        var oldIndex = 0
        var newIndex = 0
        while oldIndex < oldLines.count || newIndex < newLines.count {
            if oldIndex < oldLines.count, removed.contains(oldIndex) {
                all.append((Line(kind: .removed, text: oldLines[oldIndex]), oldIndex + 1, newIndex + 1))
                oldIndex += 1
            } else if newIndex < newLines.count, inserted.contains(newIndex) {
                all.append((Line(kind: .added, text: newLines[newIndex]), oldIndex + 1, newIndex + 1))
                newIndex += 1
            } else {
                all.append((Line(kind: .context, text: oldIndex < oldLines.count ? oldLines[oldIndex] : ""), oldIndex + 1, newIndex + 1))
                oldIndex += 1
                newIndex += 1
            }
        }
        var hunks: [Hunk] = []
        var index = 0
        while index < all.count {
            guard all[index].line.kind != .context else {
                index += 1
                continue
            }
            // A hunk: the change with `context` lines around it, merged with the next change when they are close.
            let start = max(0, index - context)
            var end = index
            var scan = index
            while scan < all.count {
                if all[scan].line.kind != .context {
                    end = scan
                } else if scan - end > 2 * context {
                    break
                }
                scan += 1
            }
            let stop = min(all.count - 1, end + context)
            let lines = all[start...stop].map(\.line)
            hunks.append(
                Hunk(
                    oldStart: all[start].old, oldCount: lines.filter { $0.kind != .added }.count,
                    newStart: all[start].new, newCount: lines.filter { $0.kind != .removed }.count, lines: lines))
            index = stop + 1
        }
        self.hunks = hunks
    }

    /// The diff as text, `diff -u` style without the file header.
    public var text: String {
        var output = ""
        for hunk in self.hunks {
            output += hunk.header + "\n"
            for line in hunk.lines { output += line.kind.rawValue + line.text + "\n" }
        }
        return output
    }
}
