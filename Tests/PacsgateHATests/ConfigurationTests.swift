import Foundation
import PacsgateConfig
import PacsgateCore
import PacsgateHA
import PacsgateTestSupport
import Testing

@testable import PacsgateApp

/// The `ha:` section as `check-config` reads it, and the configuration-sync rules.
@Suite("HA configuration and sync rules")
struct ConfigurationTests {
    static let services = """
        services:
          - label: WEB
            listen: "10.20.0.100:8080"
            protocol: tcp
            servers:
              - { label: s1, address: "10.0.0.1:80", weight: 100 }
        """

    @Test("a valid section decodes with its defaults")
    func valid() throws {
        let yaml = Self.services + """

            state_dir: /var/lib/pacsgate
            ha:
              role: secondary
              node: gw-b
              peer: 10.20.0.1
              secret_file: /etc/pacsgate/ha.secret
            """
        guard case .success(let loaded) = ConfigurationFile.load(yaml: yaml), let ha = loaded.ha else {
            Issue.record("not loaded: \(ConfigurationFile.load(yaml: yaml))")
            return
        }
        #expect(ha.role == .secondary)
        #expect(ha.peer == Endpoint(host: "10.20.0.1", port: 7778))
        #expect(ha.listen == nil, "without ha.listen the link listens on the peer-facing address, not on every address")
        #expect(ha.configSync)
        #expect(ha.queueLimit == 100_000)
        #expect(ha.statusInterval == .seconds(2))
        #expect(ha.healthFile == "/var/lib/pacsgate/ha-health")
        #expect(ha.vrrpStateFile == "/var/lib/pacsgate/vrrp-state")
        #expect(ha.vrrpTrackFile == "/var/lib/pacsgate/vrrp-track")
        #expect(ha.handoverTimeout == .seconds(5))
    }

    @Test("problems of the section are reported with their lines, with the rest of the file's")
    func problems() {
        let yaml = Self.services + """

            ha:
              node: "bad name!"
              peer: "10.20.0.1:99999"
              secret: hunter2hunter2hunter2
              reconnect_min: 5s
              reconnect_max: 1s
              colour: blue
            """
        guard case .failure(let errors) = ConfigurationFile.load(yaml: yaml) else {
            Issue.record("accepted")
            return
        }
        let text = errors.formatted(file: "p.yaml")
        // Lines: services take 1-6, ha: is 7 and its mapping starts on 8.
        #expect(text.contains("p.yaml:8: ha: missing required key 'role'"), "\(text)")
        #expect(text.contains("p.yaml:8: ha: 'node' must be"), "\(text)")
        #expect(text.contains("p.yaml:9: ha: bad peer address"), "\(text)")
        #expect(text.contains("p.yaml:10: ha: an inline 'secret'"), "\(text)")
        #expect(text.contains("p.yaml:12: ha: 'reconnect_max' is shorter"), "\(text)")
        #expect(text.contains("p.yaml:13:") && text.contains("colour"), "\(text)")
    }

    @Test("a core problem and an ha problem are reported in the same run")
    func together() {
        let yaml = """
            services: []
            ha:
              role: primary
            """
        guard case .failure(let errors) = ConfigurationFile.load(yaml: yaml) else {
            Issue.record("accepted")
            return
        }
        let text = errors.formatted(file: "p.yaml")
        #expect(text.contains("p.yaml:1:"), "\(text)")
        #expect(text.contains("p.yaml:2: ha:") || text.contains("peer"), "\(text)")
    }

    static func policy(_ role: HARole, extra: [String] = []) -> ConfigSyncPolicy {
        ConfigSyncPolicy(
            role: role, enabled: true, localKeys: LocalKeys(extra: extra),
            parse: { try? ConfigurationLoader.parse(yaml: $0).get() }, write: ConfigurationWriter.yaml)
    }

    static let primaryText = """
        services:
          - label: WEB
            listen: "10.20.0.100:8080"
            certificate: /etc/a/cert.pem
            servers:
              - { label: s1, address: "10.0.0.1:80", weight: 100 }
        admin:
          listen: "10.20.0.1:9443"
        ha:
          role: primary
        """

    static let secondaryText = """
        services:
          - label: WEB
            listen: "10.20.0.100:8080"
            certificate: /etc/b/cert.pem
            servers:
              - { label: s1, address: "10.0.0.1:80", weight: 100 }
        admin:
          listen: "10.20.0.2:9443"
        ha:
          role: secondary
        """

    @Test("the version ignores local keys; the merged file keeps the secondary's local values and takes the rest")
    func merge() throws {
        let primary = Self.policy(.primary)
        let secondary = Self.policy(.secondary)
        #expect(primary.version(of: Self.primaryText) == secondary.version(of: Self.secondaryText))
        let changed = Self.primaryText.replacingOccurrences(of: "weight: 100", with: "weight: 40")
        #expect(primary.version(of: changed) != primary.version(of: Self.primaryText))
        let push = ConfigPush(version: try #require(primary.version(of: changed)), origin: "reload", text: changed)
        guard case .apply(let merged) = secondary.decide(push, running: Self.secondaryText, primary: "gw-a") else {
            Issue.record("not applied")
            return
        }
        #expect(merged.contains("\"40\""))
        #expect(merged.contains("10.20.0.2:9443") && !merged.contains("10.20.0.1:9443"))
        #expect(merged.contains("/etc/b/cert.pem") && !merged.contains("/etc/a/cert.pem"))
        #expect(merged.contains("\"secondary\"") && !merged.contains("\"primary\""))
        #expect(secondary.version(of: merged) == push.version)
        // The merged text is a valid configuration the loader reads back.
        #expect((try? ConfigurationLoader.parse(yaml: merged).get()) != nil)
        let same = ConfigPush(version: try #require(primary.version(of: Self.primaryText)), origin: "link", text: Self.primaryText)
        #expect(secondary.decide(same, running: Self.secondaryText, primary: "gw-a") == .inSync)
        #expect(primary.decide(same, running: Self.primaryText, primary: "gw-b") != .inSync, "a primary must not take a push")
    }

    @Test("admin users and tokens are each unit's own: a push cannot add an administrator to the secondary")
    func adminIdentitiesAreLocal() throws {
        let primary = Self.policy(.primary)
        let secondary = Self.policy(.secondary)
        let secondaryText = Self.secondaryText.replacingOccurrences(
            of: "  listen: \"10.20.0.2:9443\"",
            with: """
                  listen: "10.20.0.2:9443"
                  users:
                    - { name: bob, password_hash: "$2b$12$bobbobbobbobbobbobbobuB0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b" }
                """)
        // The primary adds an administrator and a token: the shared settings are unchanged, so nothing is pushed.
        let primaryText = Self.primaryText.replacingOccurrences(
            of: "  listen: \"10.20.0.1:9443\"",
            with: """
                  listen: "10.20.0.1:9443"
                  users:
                    - { name: mallory, password_hash: "$2b$12$mallorymallorymallorymOm0m0m0m0m0m0m0m0m0m0m0m0m0m0m" }
                  tokens:
                    - { name: backdoor, token_hash: "sha256:0000000000000000000000000000000000000000000000000000000000000000" }
                """)
        #expect(primary.version(of: primaryText) == secondary.version(of: secondaryText))
        // With a shared change too, the merged file keeps the secondary's users and none of the primary's.
        let changed = primaryText.replacingOccurrences(of: "weight: 100", with: "weight: 40")
        let push = ConfigPush(version: try #require(primary.version(of: changed)), origin: "reload", text: changed)
        guard case .apply(let merged) = secondary.decide(push, running: secondaryText, primary: "gw-a") else {
            Issue.record("not applied")
            return
        }
        #expect(merged.contains("\"bob\"") && !merged.contains("mallory") && !merged.contains("backdoor"), "\(merged)")
        // Editing the secondary's own users is a local change: allowed there without force.
        let newUser = secondaryText.replacingOccurrences(of: "name: bob", with: "name: carol")
        #expect(secondary.permitFileChange(proposed: newUser, running: secondaryText, forced: false, primary: "gw-a") == nil)
    }

    @Test("the secondary refuses direct changes of shared settings unless forced; local-only changes pass")
    func refusals() {
        let secondary = Self.policy(.secondary)
        let shared = Self.secondaryText.replacingOccurrences(of: "weight: 100", with: "weight: 1")
        #expect(secondary.permitFileChange(proposed: shared, running: Self.secondaryText, forced: false, primary: "gw-a")?
            .contains("this unit is the HA secondary") == true)
        #expect(secondary.permitFileChange(proposed: shared, running: Self.secondaryText, forced: true, primary: "gw-a") == nil)
        let localOnly = Self.secondaryText.replacingOccurrences(of: "10.20.0.2:9443", with: "10.20.0.2:9444")
        #expect(secondary.permitFileChange(proposed: localOnly, running: Self.secondaryText, forced: false, primary: "gw-a") == nil)
        #expect(secondary.permitRuntimeChange(forced: false, primary: nil) != nil)
        #expect(Self.policy(.primary).permitRuntimeChange(forced: false, primary: nil) == nil)
    }

    @Test("the configuration writer writes what the loader reads back as the same tree")
    func emitter() throws {
        let tree = try ConfigurationLoader.parse(yaml: Self.primaryText + "\nodd: \"a \\\"quoted\\\" value: with # and *star\"\nempty: []\n").get()
        let again = try ConfigurationLoader.parse(yaml: ConfigurationWriter.yaml(tree)).get()
        #expect(ConfigurationWriter.yaml(again) == ConfigurationWriter.yaml(tree))
        #expect(again.scalarValues == tree.scalarValues)
    }

    @Test("local key paths that would sync nothing are refused")
    func localKeyProblems() {
        #expect(LocalKeys.problem(with: "services") != nil)
        #expect(LocalKeys.problem(with: "*") != nil)
        #expect(LocalKeys.problem(with: "audit..path") != nil)
        #expect(LocalKeys.problem(with: "audit.path") == nil)
    }
}

@Suite("HA secret file")
struct SecretFileTests {
    static func configuration(_ path: String) -> HAConfiguration {
        HAConfiguration(node: "gw-a", role: .primary, peer: Endpoint(host: "127.0.0.1", port: 7778), secretFile: path)
    }

    @Test("the secret file must exist, hold a secret made by pacsgate ha-secret and not be readable by every user")
    func rules() throws {
        let directory = try makeTemporaryDirectory("pacsgate-ha-secret")
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good").path
        let open = directory.appendingPathComponent("open").path
        let password = directory.appendingPathComponent("password").path
        _ = FileManager.default.createFile(atPath: good, contents: Data((TestSecrets.pair + "\n").utf8), attributes: [.posixPermissions: 0o600])
        _ = FileManager.default.createFile(atPath: open, contents: Data((TestSecrets.pair + "\n").utf8), attributes: [.posixPermissions: 0o644])
        _ = FileManager.default.createFile(
            atPath: password, contents: Data("failover-test-secret-0123456789ab\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(throws: Never.self) { try HAWiring.readSecret(Self.configuration(good)) }
        #expect { try HAWiring.readSecret(Self.configuration(open)) } throws: { "\($0)".contains("readable by every user") }
        #expect { try HAWiring.readSecret(Self.configuration(password)) } throws: {
            "\($0)".contains("a password is never accepted") && "\($0)".contains("pacsgate ha-secret FILE")
        }
        #expect { try HAWiring.readSecret(Self.configuration(directory.appendingPathComponent("none").path)) } throws: {
            "\($0)".contains("cannot be read") && ($0 as? HAWiring.SecretError)?.missing == true
        }
        // The legacy form only with ha.allow_legacy_secret.
        let legacy = directory.appendingPathComponent("legacy").path
        _ = FileManager.default.createFile(
            atPath: legacy, contents: Data((TestSecrets.pairLegacy + "\n").utf8), attributes: [.posixPermissions: 0o600])
        #expect { try HAWiring.readSecret(Self.configuration(legacy)) } throws: { "\($0)".contains("allow_legacy_secret") }
        var allowing = Self.configuration(legacy)
        allowing.allowLegacySecret = true
        #expect(throws: Never.self) { try HAWiring.readSecret(allowing) }
    }

    @Test("check-config refuses a weak secret at the line of secret_file, naming the command that makes a good one")
    func checkConfigRefusesWeakSecret() async throws {
        let directory = try makeTemporaryDirectory("pacsgate-ha-check")
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("ha.secret").path
        let config = directory.appendingPathComponent("p.yaml").path
        let yaml = ConfigurationTests.services + """

            ha:
              role: primary
              peer: 10.20.0.2
              secret_file: "\(secret)"

            """
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: secret, contents: Data("correct horse battery staple\n".utf8), attributes: [.posixPermissions: 0o600])
        let weak = try await ExternalTools.run(try GatewayUnderTest.executable, ["check-config", config])
        #expect(weak.status == 1)
        #expect(weak.standardError.contains("p.yaml:10: ha.secret_file"), "\(weak.standardError)")
        #expect(weak.standardError.contains("pacsgate ha-secret FILE"), "\(weak.standardError)")
        _ = FileManager.default.createFile(atPath: secret, contents: Data((TestSecrets.pair + "\n").utf8), attributes: [.posixPermissions: 0o600])
        let strong = try await ExternalTools.run(try GatewayUnderTest.executable, ["check-config", config])
        #expect(strong.status == 0, "\(strong.standardError)")
    }

    @Test("pacsgate ha-secret writes a fresh secret owner-only that run and check-config accept; it never overwrites without --force")
    func haSecretCommand() async throws {
        let directory = try makeTemporaryDirectory("pacsgate-ha-secret-command")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("ha.secret").path
        let made = try await ExternalTools.run(try GatewayUnderTest.executable, ["ha-secret", file])
        #expect(made.status == 0, "\(made.standardError)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!made.standardOutput.contains(text.trimmingCharacters(in: .whitespacesAndNewlines)), "the secret is never printed")
        let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        #expect(throws: Never.self) { try HAWiring.readSecret(Self.configuration(file)) }
        // Not replaced without --force; a new one with it.
        let again = try await ExternalTools.run(try GatewayUnderTest.executable, ["ha-secret", file])
        #expect(again.status == 1 && again.standardError.contains("--force"), "\(again.standardError)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == text)
        let forced = try await ExternalTools.run(try GatewayUnderTest.executable, ["ha-secret", "--force", file])
        #expect(forced.status == 0, "\(forced.standardError)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) != text)
    }
}

extension ConfigNode {
    /// Every scalar in document order (to compare trees without line numbers).
    var scalarValues: [String] {
        switch self.kind {
        case .scalar(let text): return [text]
        case .null: return ["<null>"]
        case .mapping(let entries): return entries.flatMap { [$0.key] + $0.value.scalarValues }
        case .sequence(let items): return items.flatMap(\.scalarValues)
        }
    }
}
