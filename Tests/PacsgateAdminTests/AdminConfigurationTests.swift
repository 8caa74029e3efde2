import PacsgateAdmin
import PacsgateConfig
import PacsgateCore
import Testing

/// Decoding the `admin:` section: defaults, secure refusals, every problem with its line.
@Suite("Admin configuration")
struct AdminConfigurationTests {
    static func decode(_ yaml: String) throws -> (AdminConfiguration?, [ConfigProblem]) {
        guard case .success(let root) = ConfigurationLoader.parse(yaml: yaml), case .mapping(let entries) = root.kind,
            let node = entries.first(where: { $0.key == "admin" })?.value
        else { throw HarnessError("no admin section in test YAML") }
        return AdminConfiguration.decode(node)
    }

    @Test("defaults: 127.0.0.1:9443, plain HTTP on loopback, 30-minute sessions")
    func defaults() throws {
        let (config, problems) = try Self.decode("admin: { listen: \"127.0.0.1:9443\" }\n")
        #expect(problems.isEmpty)
        let admin = try #require(config)
        #expect(admin.listen == AdminConfiguration.defaultListen)
        #expect(!admin.usesTLS)
        #expect(admin.sessionTimeout == .seconds(1800))
        #expect(admin.users.isEmpty)
        let (empty, none) = try Self.decode("admin:\n")
        #expect(none.isEmpty)
        #expect(empty?.listen == AdminConfiguration.defaultListen)
        let (disabled, _) = try Self.decode("admin: { enabled: false }\n")
        #expect(disabled == nil)
    }

    @Test("HTTPS unless on loopback without a certificate; 'tls: off' only on loopback")
    func tlsModes() throws {
        #expect(try Self.decode("admin: { listen: \"0.0.0.0:9443\" }\n").0?.usesTLS == true)
        #expect(try Self.decode("admin: { listen: \"[::1]:9443\" }\n").0?.usesTLS == false)
        #expect(try Self.decode("admin: { tls: on }\n").0?.usesTLS == true)
        #expect(try Self.decode("admin: { certificate: /a.pem, key: /a.key }\n").0?.usesTLS == true)
        let (_, problems) = try Self.decode("admin:\n  listen: \"10.1.2.3:9443\"\n  tls: off\n")
        #expect(problems.map(\.line) == [3])
        #expect(problems.first?.message.contains("only on a loopback address") == true)
        let (_, half) = try Self.decode("admin:\n  certificate: /a.pem\n")
        #expect(half.map(\.line) == [2])
        #expect(half.first?.message.contains("go together") == true)
    }

    @Test("users need bcrypt hashes: plain passwords, malformed hashes, duplicates and bad names are refused with their lines")
    func users() throws {
        let hash = AdminHarness.passwordHash
        let yaml = """
            admin:
              users:
                - { name: alice, password_hash: "\(hash)" }
                - { name: bob, password: "secret" }
                - { name: carol, password_hash: "md5:abc" }
                - { name: alice, password_hash: "\(hash)" }
                - { name: "dave smith", password_hash: "\(hash)" }
                - { password_hash: "\(hash)" }
              session_timeout: 0s
              colour: blue
            """
        let (config, problems) = try Self.decode(yaml)
        #expect(config?.users.map(\.name) == ["alice"])
        let byLine = Dictionary(grouping: problems, by: \.line).mapValues { $0.map(\.message).joined(separator: " | ") }
        #expect(byLine[4]?.contains("plain 'password' is not accepted") == true)
        #expect(byLine[5]?.contains("not a bcrypt hash") == true)
        #expect(byLine[6]?.contains("duplicate user 'alice' (first at line 3)") == true)
        #expect(byLine[7]?.contains("names are 1-64 letters") == true)
        #expect(byLine[8]?.contains("missing required key 'name'") == true)
        #expect(byLine[9]?.contains("'session_timeout' must be longer than zero") == true)
        #expect(byLine[10]?.contains("unknown key 'colour'") == true)
        #expect(!problems.contains { $0.message.contains("secret") }, "a plain password is never repeated in messages")
    }

    @Test("tokens: sha256 digests, or plain tokens of at least 24 characters")
    func tokens() throws {
        let digest = APIToken.Digest(of: AdminHarness.token)
        let yaml = """
            admin:
              tokens:
                - { name: ci, token_hash: "\(digest)" }
                - { name: plain, token: "0123456789abcdef0123456789" }
                - { name: short, token: "abc" }
                - { name: bad, token_hash: "sha1:abcd" }
                - { name: both, token: "0123456789abcdef0123456789", token_hash: "\(digest)" }
            """
        let (config, problems) = try Self.decode(yaml)
        #expect(config?.tokens.map(\.name) == ["ci", "plain"])
        #expect(config?.tokens.first?.digest == APIToken.Digest(of: AdminHarness.token))
        #expect(problems.map(\.line) == [5, 6, 7])
        #expect(APIToken.Digest(text: digest.description) == digest)
        #expect(APIToken.Digest(text: "sha256:" + String(repeating: "g", count: 64)) == nil)
        #expect(APIToken.generate().count == 43)
        #expect(APIToken.generate() != APIToken.generate())
    }

    @Test("a whole-file validation reports core and admin problems together, in line order")
    func wholeFile() {
        let yaml = """
            services:
              - label: SVC
                listen: "127.0.0.1:0"
                servers: [ { label: A, address: "127.0.0.1:104" } ]
            admin:
              tls: sometimes
            """
        guard case .failure(let errors) = ConfigurationManager.validate(yaml, loader: AdminHarness.loader) else {
            Issue.record("an invalid file validated")
            return
        }
        #expect(errors.problems.map(\.line) == [3, 6])
        #expect(errors.problems.last?.message.contains("'tls' must be one of auto | on | off") == true)
    }
}
