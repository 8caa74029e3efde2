import Foundation
import PacsgateConfig
import PacsgateCore

/// Changes made in the page: an edit or a rollback is first previewed (validated exactly as `check-config` does, and
/// shown as a diff of the file), then applied like an upload — a dated backup of the file, the new file written, a
/// reload that drops nothing, an `admin.change` audit record, and on an HA primary the sync to the secondary.
extension ConfigurationManager {
    /// What a change would do, shown before it is applied.
    public struct Preview: Sendable, Encodable {
        /// The digest of the file the change was made on: applying checks the file has not changed since.
        public var base: String
        /// The change to the file; empty when it changes nothing.
        public var diff: ConfigurationDiff
        /// `FILE:LINE: problem` lines of the changed file, or why the change cannot be made at all.
        public var problems: [String]
        /// Why this unit refuses the change (the HA secondary), or `nil`.
        public var refusal: String?
        /// Whether the change can be applied as it stands.
        public var acceptable: Bool { self.problems.isEmpty && self.refusal == nil && !self.diff.isEmpty }
    }

    /// A dated copy of the file kept before a change.
    public struct Backup: Sendable, Encodable, Equatable {
        /// The file name (what a rollback names).
        public var name: String
        /// When it was taken (the file's modification time).
        public var taken: String
        public var bytes: Int
    }

    /// The file as it is on disk, which edits change (the running text when it cannot be read).
    private func fileText() -> String {
        guard let path = self.path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return self.currentText }
        return text
    }

    /// The file's text with `edit` made, or why it cannot be made.
    private func edited(_ edit: ConfigurationEdit) -> Result<String, ConfigurationEditError> {
        Result { () throws(ConfigurationEditError) in try edit.apply(to: self.fileText()) }
    }

    /// Validates `edit` made on the file and shows what it changes.
    public func preview(_ edit: ConfigurationEdit, forced: Bool = false) -> Preview {
        switch self.edited(edit) {
        case .success(let text): return self.preview(replacingWith: text, forced: forced)
        case .failure(let failure):
            return Preview(base: Self.digest(self.fileText()), diff: ConfigurationDiff(from: "", to: ""), problems: [failure.description])
        }
    }

    /// Validates a rollback to the backup `name` and shows what it changes.
    public func previewRollback(to name: String, forced: Bool = false) -> Preview {
        switch self.backupText(name) {
        case .success(let text): return self.preview(replacingWith: text, forced: forced)
        case .failure(let failure):
            return Preview(base: Self.digest(self.fileText()), diff: ConfigurationDiff(from: "", to: ""), problems: [failure.description])
        }
    }

    private func preview(replacingWith text: String, forced: Bool) -> Preview {
        let current = self.fileText()
        var problems: [String] = []
        if case .failure(let errors) = self.validate(text) {
            problems = errors.formatted(file: self.path.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "configuration")
                .split(separator: "\n").map(String.init)
        }
        return Preview(
            base: Self.digest(current), diff: ConfigurationDiff(from: current, to: text), problems: problems,
            refusal: self.permitFileChange(text, forced: forced))
    }

    /// Makes `edit` on the file and applies it, when the file is still the one the preview was made on (`base`).
    public func applyEdit(_ edit: ConfigurationEdit, base: String, by user: String, forced: Bool = false) async -> Outcome {
        await self.applyChange(edit.summary, base: base, by: user, forced: forced) { text throws(ConfigurationEditError) in
            try edit.apply(to: text)
        }
    }

    /// Makes a change (`make`, a targeted edit of the file's text) and applies it like an edit, when the file is
    /// still the one with digest `base` (`nil`: the file as it is now). `summary` names it in the audit record.
    func applyChange(
        _ summary: String, base: String?, by user: String, forced: Bool = false,
        make: (String) throws(ConfigurationEditError) -> String
    ) async -> Outcome {
        let current = self.fileText()
        let text: String
        do {
            text = try make(current)
        } catch {
            return await self.replaceChecked(with: "", what: "config.edit", detail: summary, by: user, forced: forced, refusal: error.description)
        }
        return await self.replaceChecked(with: text, what: "config.edit", detail: summary, by: user, forced: forced, base: base ?? Self.digest(current))
    }

    /// Puts the backup `name` back as the file and applies it (keeping a backup of the file it replaces), when the
    /// file is still the one the preview was made on (`base`).
    public func rollback(to name: String, base: String, by user: String, forced: Bool = false) async -> Outcome {
        switch self.backupText(name) {
        case .success(let text):
            return await self.replaceChecked(with: text, what: "config.rollback", detail: "rollback to \(name)", by: user, forced: forced, base: base)
        case .failure(let failure):
            return await self.replaceChecked(with: "", what: "config.rollback", detail: "rollback to \(name)", by: user, forced: forced, refusal: failure.description)
        }
    }

    /// ``replace(with:what:detail:by:forced:)`` after two checks of a change made in the page: that it could be
    /// made at all (`refusal`), and that the file is the one its preview showed the diff of (`base`).
    private func replaceChecked(
        with text: String, what: String, detail: String, by user: String, forced: Bool, base: String? = nil, refusal: String? = nil
    ) async -> Outcome {
        if let refusal {
            return await self.refuseChange(what, user: user, message: refusal, detail: detail)
        }
        if let base, base != Self.digest(self.fileText()) {
            return await self.refuseChange(
                what, user: user, message: "the configuration file changed since this change was previewed; review the change again",
                detail: detail)
        }
        return await self.replace(with: text, what: what, detail: Optional(detail), by: user, forced: forced)
    }

    // MARK: backups

    /// The backups kept of the file, newest first.
    public func backups() -> [Backup] {
        guard let (directory, stem, suffix) = self.backupNaming() else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var backups: [(Backup, Date)] = []
        for name in names where name.hasPrefix(stem + "-") && name.hasSuffix(suffix) {
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)
            let modified = attributes?[.modificationDate] as? Date ?? .distantPast
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? 0
            backups.append((Backup(name: name, taken: ISO8601DateFormatter().string(from: modified), bytes: size), modified))
        }
        // Newest first; the name (the time in milliseconds, then `-2`, `-3`… for more in the same millisecond: the
        // longer name of the same time is the later) breaks ties.
        return backups.sorted {
            $0.1 != $1.1 ? $0.1 > $1.1 : ($0.0.name.count, $0.0.name) > ($1.0.name.count, $1.0.name)
        }.map(\.0)
    }

    /// The text of the backup `name`, which must be one of ``backups()`` (a name, never a path).
    private func backupText(_ name: String) -> Result<String, ConfigurationEditError> {
        guard let (directory, _, _) = self.backupNaming(), self.backups().contains(where: { $0.name == name }) else {
            return .failure(ConfigurationEditError("there is no backup named '\(name)'"))
        }
        switch ConfigurationLoader.read(path: directory + "/" + name) {
        case .success(let text): return .success(text)
        case .failure(let errors): return .failure(ConfigurationEditError("cannot read the backup '\(name)': \(errors.problems.map(\.message).joined(separator: "; "))"))
        }
    }
}
