import Crypto
import Foundation
public import Logging
import PacsgateAuditRecords
public import PacsgateConfig
public import PacsgateCore

/// Reloads and replaces the running configuration: for SIGHUP, `POST /api/v1/reload`, `POST /api/v1/config` and
/// `pacsgate ctl reload`.
///
/// A configuration is validated whole (core, protocol modules and the `admin:` section) before anything changes; a
/// configuration with problems is refused and the running one kept. An upload keeps the previous file as a
/// timestamped backup, then writes the new file and applies it; if applying fails (a new port cannot be bound) the
/// previous file is put back. Every attempt is an `admin.change` audit record with the digests of the files before
/// and after — never their contents, which hold password hashes.
public actor ConfigurationManager {
    /// The result of a reload or upload, as the API returns it.
    public struct Outcome: Sendable, Encodable, Equatable {
        /// Whether the new configuration is running.
        public var applied: Bool
        /// One-line summary for people.
        public var message: String
        /// `FILE:LINE: problem` lines when the configuration was refused.
        public var problems: [String]
        public var added: [String]
        public var removed: [String]
        public var changed: [String]
        /// Where the previous file was kept (uploads).
        public var backup: String?
    }

    /// Called after a configuration has been applied (the admin server takes the new users and tokens).
    public typealias Listener = @Sendable (GatewayConfiguration, AdminConfiguration?) async -> Void

    /// Asked before a change made on this unit: returns the refusal, or `nil` to let it go ahead. The HA secondary
    /// installs one: the pair's configuration is made on the primary, so direct changes are refused unless forced.
    public struct ChangeGate: Sendable {
        /// A file change (reload, upload): the proposed text, the running text, whether the caller forces it.
        public var file: @Sendable (_ proposed: String, _ running: String, _ forced: Bool) -> String?
        /// A server state or weight change.
        public var runtime: @Sendable (_ forced: Bool) -> String?

        public init(
            file: @escaping @Sendable (_ proposed: String, _ running: String, _ forced: Bool) -> String?,
            runtime: @escaping @Sendable (_ forced: Bool) -> String?
        ) {
            self.file = file
            self.runtime = runtime
        }
    }

    private let gateway: Gateway
    private let loader: ConfigurationLoader
    private let audit: AuditLog
    private let logger: Logger
    /// The file the gateway runs from; `nil` when it was started without one (`pacsgate demo`).
    public nonisolated let path: String?
    private let backupDirectory: String?
    private var runningText: String
    private var listeners: [Listener] = []
    private var gate: ChangeGate?
    private var pairStatusProvider: (@Sendable () async -> Overview.Pair?)?
    private var switchoverAction: (@Sendable (String) async -> SwitchoverOutcome)?

    /// - Parameters:
    ///   - path: the configuration file, re-read by ``reload(by:)`` and replaced by ``upload(_:by:)``.
    ///   - runningText: the YAML the gateway was started with.
    ///   - backupDirectory: where uploads keep the previous file; `nil` keeps it beside `path`.
    public init(
        gateway: Gateway, loader: ConfigurationLoader, audit: AuditLog, logger: Logger, path: String?, runningText: String,
        backupDirectory: String? = nil
    ) {
        self.gateway = gateway
        self.loader = loader
        self.audit = audit
        self.logger = logger
        self.path = path
        self.runningText = runningText
        self.backupDirectory = backupDirectory
    }

    /// Registers a listener for applied configurations.
    public func onApplied(_ listener: @escaping Listener) {
        self.listeners.append(listener)
    }

    /// Installs the gate asked before every change made on this unit (`nil`: none).
    public func setGate(_ gate: ChangeGate?) {
        self.gate = gate
    }

    /// Installs what the overview shows of the HA pair (`nil`: a single unit).
    public func setPairStatus(_ provider: (@Sendable () async -> Overview.Pair?)?) {
        self.pairStatusProvider = provider
    }

    /// The HA pair as the overview shows it; `nil` for a single unit.
    public func pairStatus() async -> Overview.Pair? {
        await self.pairStatusProvider?()
    }

    /// What a planned switchover did (`POST /api/v1/ha/switchover`).
    public struct SwitchoverOutcome: Sendable, Codable, Equatable {
        /// Whether the virtual IPs left this unit.
        public var handedOver: Bool
        /// Refused because nothing could be done safely (not holding the VIP, the peer not ready).
        public var refused: Bool
        public var message: String

        public init(handedOver: Bool, refused: Bool, message: String) {
            self.handedOver = handedOver
            self.refused = refused
            self.message = message
        }
    }

    /// Installs the HA pair's planned switchover (`nil`: a single unit).
    public func setSwitchover(_ action: (@Sendable (String) async -> SwitchoverOutcome)?) {
        self.switchoverAction = action
    }

    /// Hands the virtual IPs to the HA peer on behalf of `user`; `nil` for a single unit.
    public func switchover(by user: String) async -> SwitchoverOutcome? {
        guard let action = self.switchoverAction else { return nil }
        return await action(user)
    }

    /// The gate's refusal of a server state or weight change, or `nil` when it may go ahead.
    public func permitRuntimeChange(forced: Bool) -> String? {
        self.gate?.runtime(forced)
    }

    /// The YAML of the running configuration.
    public var currentText: String { self.runningText }

    /// Validates YAML as a whole configuration, the `admin:` section included.
    public nonisolated func validate(_ text: String) -> Result<(GatewayConfiguration, AdminConfiguration?), ConfigErrors> {
        Self.validate(text, loader: self.loader)
    }

    /// Validates YAML as a whole configuration with `loader`, the `admin:` section included.
    public static func validate(
        _ text: String, loader: ConfigurationLoader
    ) -> Result<(GatewayConfiguration, AdminConfiguration?), ConfigErrors> {
        Self.validateDocument(text, loader: loader).map { ($0.configuration, $0.admin) }
    }

    /// A validated configuration document.
    public struct Document: Sendable {
        public var configuration: GatewayConfiguration
        public var admin: AdminConfiguration?
        public var warnings: [ConfigProblem]
    }

    /// Validates YAML as a whole configuration with `loader` and returns its warnings too. Problems of the `admin:`
    /// section are reported together with the rest of the file's, in line order.
    public static func validateDocument(_ text: String, loader: ConfigurationLoader) -> Result<Document, ConfigErrors> {
        switch loader.load(yaml: text) {
        case .failure(let errors):
            // Report the admin section's problems in the same run, when the YAML itself could be read.
            var problems = errors.problems
            if case .success(let root) = ConfigurationLoader.parse(yaml: text), let node = root.section(.admin) {
                problems += AdminConfiguration.decode(node).1
            }
            return .failure(ConfigErrors(problems))
        case .success(let (configuration, warnings)):
            switch AdminConfiguration.decode(from: configuration) {
            case .failure(let errors): return .failure(errors)
            case .success(let admin): return .success(Document(configuration: configuration, admin: admin, warnings: warnings))
            }
        }
    }

    /// Re-reads the configuration file and applies it. `forced` overrides the gate (the HA secondary's refusal).
    public func reload(by user: String, forced: Bool = false) async -> Outcome {
        guard let path = self.path else {
            return self.refuse("reload", user: user, message: "the gateway runs without a configuration file (demo); nothing to reload", problems: [])
        }
        let text: String
        switch ConfigurationLoader.read(path: path) {
        case .success(let read):
            text = read
        case .failure(let errors):
            return await self.refuseAudited(
                "reload", user: user, after: nil, message: "cannot read \(path)",
                problems: errors.formatted(file: path).split(separator: "\n").map(String.init))
        }
        if let refusal = self.gate?.file(text, self.runningText, forced) {
            return await self.refuseAudited("reload", user: user, after: text, message: refusal, problems: [])
        }
        return await self.apply(text, what: "reload", user: user, backup: nil, restoreOnFailure: nil)
    }

    /// Validates `text`; if valid, keeps the current file as a backup, writes `text` in its place and applies it.
    /// `forced` overrides the gate (the HA secondary's refusal; the HA sync itself forces).
    public func upload(_ text: String, by user: String, forced: Bool = false) async -> Outcome {
        await self.replace(with: text, what: "config.upload", detail: nil, by: user, forced: forced)
    }

    /// What an upload, an edit and a rollback share: validate, ask the gate, keep a backup, write, apply (and put
    /// the previous file back when applying fails). `detail` goes into the audit record (`edit`).
    func replace(with text: String, what: String, detail: String?, by user: String, forced: Bool) async -> Outcome {
        guard let path = self.path else {
            return self.refuse(
                what, user: user,
                message: "the gateway runs without a configuration file (demo); start it with `pacsgate run --config FILE` to change it",
                problems: [])
        }
        if case .failure(let errors) = self.validate(text) {
            return await self.refuseAudited(
                what, user: user, after: text, message: "configuration refused: \(errors.problems.count) problem(s); the running configuration is unchanged",
                problems: errors.formatted(file: what == "config.upload" ? "uploaded" : URL(fileURLWithPath: path).lastPathComponent)
                    .split(separator: "\n").map(String.init), detail: detail)
        }
        if let refusal = self.gate?.file(text, self.runningText, forced) {
            return await self.refuseAudited(what, user: user, after: text, message: refusal, problems: [], detail: detail)
        }
        let previousFile = (try? String(contentsOfFile: path, encoding: .utf8)) ?? self.runningText
        let backup: String
        do {
            backup = try self.writeBackup(previousFile)
            try Self.replaceFile(at: path, with: text)
        } catch {
            return await self.refuseAudited(
                what, user: user, after: text, message: "cannot write the configuration file: \(error)", problems: [], detail: detail)
        }
        return await self.apply(text, what: what, user: user, backup: backup, restoreOnFailure: previousFile, detail: detail)
    }

    // MARK: applying

    private func apply(
        _ text: String, what: String, user: String, backup: String?, restoreOnFailure: String?, detail: String? = nil
    ) async -> Outcome {
        let before = self.runningText
        let configuration: GatewayConfiguration
        let admin: AdminConfiguration?
        switch self.validate(text) {
        case .failure(let errors):
            if let restoreOnFailure { self.restore(restoreOnFailure) }
            let problems = errors.formatted(file: self.path ?? "configuration").split(separator: "\n").map(String.init)
            self.logger.error(
                "reload refused: configuration has problems; keeping the running one",
                metadata: ["problems": "\(problems.joined(separator: "; "))", "by": "\(user)"])
            return await self.refuseAudited(
                what, user: user, after: text,
                message: "configuration refused: \(problems.count) problem(s); the running configuration is unchanged",
                problems: problems, detail: detail)
        case .success(let decoded):
            (configuration, admin) = decoded
        }
        let report: Gateway.ReloadReport
        do {
            // The record is written before anything changes; a change whose record cannot be written is not applied.
            report = try await self.gateway.apply(configuration) { report in
                let record = AdminChangeAudit(
                    user: user, what: what,
                    change: .applied(
                        before: Self.digest(before), after: Self.digest(text), added: report.added, removed: report.removed,
                        changed: report.changed, backup: backup, edit: detail))
                try await self.audit.writeOrWithdraw(record.auditRecord)
            }
        } catch {
            if let restoreOnFailure { self.restore(restoreOnFailure) }
            let why = error is AuditLog.NotWritten ? "its audit record cannot be written (\(error))" : "\(error)"
            self.logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(why)", "by": "\(user)"])
            return await self.refuseAudited(
                what, user: user, after: text, message: "cannot apply the configuration: \(why); the running configuration is unchanged",
                problems: [], detail: detail)
        }
        self.runningText = text
        for listener in self.listeners { await listener(configuration, admin) }
        self.logger.notice("configuration reloaded", metadata: ["changes": "\(report)", "by": "\(user)"])
        return Outcome(
            applied: true, message: "configuration applied (\(report))", problems: [], added: report.added,
            removed: report.removed, changed: report.changed, backup: backup)
    }

    private func refuse(_ what: String, user: String, message: String, problems: [String]) -> Outcome {
        Outcome(applied: false, message: message, problems: problems, added: [], removed: [], changed: [], backup: nil)
    }

    private func refuseAudited(
        _ what: String, user: String, after: String?, message: String, problems: [String], detail: String? = nil
    ) async -> Outcome {
        let record = AdminChangeAudit(
            user: user, what: what,
            change: .refused(
                edit: detail, before: Self.digest(self.runningText), after: after.map(Self.digest), error: message,
                problems: problems.count))
        try? await self.audit.writeAndWait(record.auditRecord)
        return self.refuse(what, user: user, message: message, problems: problems)
    }

    /// A change made in the page refused before anything was written, with its audit record.
    func refuseChange(_ what: String, user: String, message: String, detail: String) async -> Outcome {
        await self.refuseAudited(what, user: user, after: nil, message: message, problems: [], detail: detail)
    }

    /// The gate's refusal of replacing the file with `text`, or `nil`.
    func permitFileChange(_ text: String, forced: Bool) -> String? {
        self.gate?.file(text, self.runningText, forced)
    }

    /// Puts the previous file back after an upload that was not applied.
    private func restore(_ previous: String) {
        guard let path = self.path else { return }
        do {
            try Self.replaceFile(at: path, with: previous)
        } catch {
            self.logger.error(
                "cannot put the previous configuration file back; the file holds the refused upload, the gateway runs the previous configuration",
                metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    /// `sha256:` and the hex digest of a file's text.
    static func digest(_ text: String) -> String {
        "sha256:" + SHA256.hash(data: Array(text.utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    // MARK: files

    /// Where backups of the file go and how they are named: `<stem>-<UTC time>[-<n>].<extension>` in `directory`.
    func backupNaming() -> (directory: String, stem: String, suffix: String)? {
        guard let path = self.path else { return nil }
        let file = URL(fileURLWithPath: path)
        let directory = self.backupDirectory ?? file.deletingLastPathComponent().path
        return (directory, file.deletingPathExtension().lastPathComponent, "." + (file.pathExtension.isEmpty ? "yaml" : file.pathExtension))
    }

    private func writeBackup(_ text: String) throws -> String {
        guard let (directoryPath, stem, suffix) = self.backupNaming() else { throw CocoaError(.fileNoSuchFile) }
        let directory = URL(fileURLWithPath: directoryPath)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        let stamp = WallClock.now().iso8601.replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        var name = "\(stem)-\(stamp)\(suffix)"
        var counter = 1
        while FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) {
            counter += 1
            name = "\(stem)-\(stamp)-\(counter)\(suffix)"
        }
        let target = directory.appendingPathComponent(name)
        // Backups hold password hashes: owner only, whatever the running file's mode.
        try PrivateFile.write(Array(text.utf8), to: target.path)
        return target.path
    }

    /// Writes `text` to a temporary file beside `path`, syncs it, and renames it over `path` (readers never see half a
    /// file). Keeps the mode of the file it replaces (0600 for a new one: it holds password hashes); the new file has
    /// that mode from its creation.
    static func replaceFile(at path: String, with text: String) throws {
        var info = stat()
        let mode = stat(path, &info) == 0 ? UInt32(info.st_mode & 0o777) : PrivateFile.ownerOnly
        try PrivateFile.write(Array(text.utf8), to: path, mode: mode)
    }
}

#if canImport(Glibc)
import Glibc
#endif
