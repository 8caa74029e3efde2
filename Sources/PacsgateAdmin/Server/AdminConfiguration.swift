public import PacsgateCore

/// The `admin:` section of the configuration: where the admin web page and API listen, how they are secured and who
/// may use them.
///
/// ```yaml
/// admin:
///   listen: "127.0.0.1:9443"          # default
///   tls: auto                         # auto | on | off
///   certificate: /etc/pacsgate/admin.crt
///   key: /etc/pacsgate/admin.key
///   session_timeout: 30m
///   max_connections: 64                # connections at once; more wait in the listen backlog
///   idle_timeout: 60s                  # a connection without a request for this long is closed
///   handshake_timeout: 10s             # HTTPS: the TLS handshake must finish within this
///   users:
///     - { name: alice, password_hash: "$2b$12$…" }     # pacsgate hash-password
///   tokens:
///     - { name: prometheus, token_hash: "sha256:…", scope: metrics }   # pacsgate hash-password --token
///     - { name: ops, token_hash: "sha256:…", scope: operate }          # metrics | read (default) | operate | admin
/// ```
public struct AdminConfiguration: Sendable, Equatable {
    /// How the admin server speaks HTTP.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// HTTPS with the configured certificate; without one, plain HTTP on loopback and a generated self-signed
        /// certificate anywhere else.
        case auto
        /// Always HTTPS (a self-signed certificate is generated when none is configured).
        case on
        /// Plain HTTP; allowed only on a loopback address.
        case off
    }

    /// Address and port of the admin server.
    public var listen: Endpoint
    public var tls: TLSMode
    /// PEM certificate chain and private key files (both or neither).
    public var certificatePath: String?
    public var keyPath: String?
    /// Users who may log in to the page.
    public var users: [AdminUser]
    /// Bearer tokens for scripts and `pacsgate ctl`.
    public var tokens: [APIToken]
    /// A session unused for this long expires.
    public var sessionTimeout: Duration
    /// A session expires this long after login, however busy.
    public var sessionLifetime: Duration
    /// Failed logins from one client address (or for one user name) within ``loginWindow`` before logins are refused.
    public var loginAttempts: Int
    public var loginWindow: Duration
    /// Connections served at once; beyond, new ones wait in the listen backlog.
    public var maxConnections: Int
    /// A connection with no request in progress for this long is closed.
    public var idleTimeout: Duration
    /// HTTPS: a connection whose TLS handshake has not finished after this long is closed.
    public var handshakeTimeout: Duration
    /// Line of the section in the file (for messages); 0 when built in code.
    public var line: Int

    /// The default admin address.
    public static let defaultListen = Endpoint(host: "127.0.0.1", port: 9443)

    public init(
        listen: Endpoint = AdminConfiguration.defaultListen, tls: TLSMode = .auto, certificatePath: String? = nil,
        keyPath: String? = nil, users: [AdminUser] = [], tokens: [APIToken] = [], sessionTimeout: Duration = .seconds(1800),
        sessionLifetime: Duration = .seconds(12 * 3600), loginAttempts: Int = 5, loginWindow: Duration = .seconds(900),
        maxConnections: Int = 64, idleTimeout: Duration = .seconds(60), handshakeTimeout: Duration = .seconds(10),
        line: Int = 0
    ) {
        self.listen = listen
        self.tls = tls
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.users = users
        self.tokens = tokens
        self.sessionTimeout = sessionTimeout
        self.sessionLifetime = sessionLifetime
        self.loginAttempts = loginAttempts
        self.loginWindow = loginWindow
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.handshakeTimeout = handshakeTimeout
        self.line = line
    }

    /// Whether ``listen`` is a loopback address (127.0.0.0/8, ::1 or `localhost`).
    public var listensOnLoopback: Bool { Self.isLoopback(self.listen.host) }

    /// Whether the server speaks HTTPS, following ``tls``.
    public var usesTLS: Bool {
        switch self.tls {
        case .on: return true
        case .off: return false
        case .auto: return self.certificatePath != nil || !self.listensOnLoopback
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    // MARK: decoding

    /// The `admin:` section as the executable registers it with the configuration decoder.
    public static let section = ConfigSection(.admin)

    /// Decodes the `admin:` section of a loaded configuration.
    ///
    /// Returns `nil` when the configuration has no `admin:` section (or `enabled: false`): no admin server runs.
    public static func decode(from configuration: GatewayConfiguration) -> Result<AdminConfiguration?, ConfigErrors> {
        guard let node = configuration.sections[.admin] else { return .success(nil) }
        let (decoded, problems) = Self.decode(node)
        if !problems.isEmpty { return .failure(ConfigErrors(problems)) }
        return .success(decoded)
    }

    /// Decodes an `admin:` mapping; every problem carries its line.
    public static func decode(_ node: ConfigNode) -> (AdminConfiguration?, [ConfigProblem]) {
        var reader = MappingReader(node, context: "admin")
        var config = AdminConfiguration(line: node.line)
        let enabled = reader.bool("enabled") ?? true
        if let text = reader.string("listen") {
            switch Endpoint.parse(text) {
            case .success(let endpoint): config.listen = endpoint
            case .failure(let error):
                reader.problem(reader.entryLine("listen") ?? node.line, "admin: bad listen address '\(text)': \(error)")
            }
        }
        if let mode = reader.choice("tls", TLSMode.self) { config.tls = mode }
        config.certificatePath = reader.string("certificate")
        config.keyPath = reader.string("key")
        if (config.certificatePath == nil) != (config.keyPath == nil) {
            reader.problem(
                reader.entryLine(config.certificatePath == nil ? "key" : "certificate") ?? node.line,
                "admin: 'certificate' and 'key' go together (give both, or neither for a generated self-signed one)")
        }
        if config.tls == .off {
            if !config.listensOnLoopback {
                reader.problem(
                    reader.entryLine("tls") ?? node.line,
                    "admin: 'tls: off' is allowed only on a loopback address (listen is \(config.listen)); passwords would cross the network in clear"
                )
            }
            if config.certificatePath != nil {
                reader.problem(reader.entryLine("tls") ?? node.line, "admin: 'tls: off' with a certificate; remove one of them")
            }
        }
        if let timeout = reader.duration("session_timeout") { config.sessionTimeout = timeout }
        if let lifetime = reader.duration("session_lifetime") { config.sessionLifetime = lifetime }
        if let attempts = reader.int("login_attempts", in: 1...1000) { config.loginAttempts = attempts }
        if let window = reader.duration("login_window") { config.loginWindow = window }
        if let connections = reader.int("max_connections", in: 1...100_000) { config.maxConnections = connections }
        if let idle = reader.duration("idle_timeout") { config.idleTimeout = idle }
        if let handshake = reader.duration("handshake_timeout") { config.handshakeTimeout = handshake }
        for key in ["session_timeout", "session_lifetime", "login_window", "idle_timeout", "handshake_timeout"] {
            let value: Duration
            switch key {
            case "session_timeout": value = config.sessionTimeout
            case "session_lifetime": value = config.sessionLifetime
            case "idle_timeout": value = config.idleTimeout
            case "handshake_timeout": value = config.handshakeTimeout
            default: value = config.loginWindow
            }
            if value <= .zero { reader.problem(reader.entryLine(key) ?? node.line, "admin: '\(key)' must be longer than zero") }
        }
        config.users = Self.decodeUsers(&reader)
        config.tokens = Self.decodeTokens(&reader)
        reader.finish()
        return (enabled ? config : nil, reader.problems)
    }

    private static func decodeUsers(_ reader: inout MappingReader) -> [AdminUser] {
        guard let node = reader.node("users") else { return [] }
        guard case .sequence(let items) = node.kind else {
            if case .null = node.kind { return [] }
            reader.problem(node.line, "admin: 'users' must be a list of { name, password_hash }")
            return []
        }
        var users: [AdminUser] = []
        var seen: [String: Int] = [:]
        for item in items {
            var entry = MappingReader(item, context: "admin user")
            let name = entry.string("name", required: true)
            let hash = entry.string("password_hash")
            if entry.has("password") {
                _ = entry.node("password")
                entry.problem(
                    entry.entryLine("password") ?? item.line,
                    "admin user: plain 'password' is not accepted; store 'password_hash' from `pacsgate hash-password`")
            } else if hash == nil {
                entry.problem(item.line, "admin user: missing required key 'password_hash' (make one with `pacsgate hash-password`)")
            }
            entry.finish()
            reader.absorb(entry)
            guard let name, let hash else { continue }
            if !AdminUser.isValidName(name) {
                reader.problem(item.line, "admin user '\(name)': names are 1-64 letters, digits, '.', '-', '_' or '@'")
                continue
            }
            if !PasswordHasher.isWellFormedHash(hash) {
                reader.problem(
                    item.line,
                    "admin user '\(name)': 'password_hash' is not a bcrypt hash ($2b$NN$ + 53 characters); make one with `pacsgate hash-password`"
                )
                continue
            }
            if let first = seen[name] {
                reader.problem(item.line, "admin: duplicate user '\(name)' (first at line \(first))")
                continue
            }
            seen[name] = item.line
            users.append(AdminUser(name: name, passwordHash: hash))
        }
        return users
    }

    private static func decodeTokens(_ reader: inout MappingReader) -> [APIToken] {
        guard let node = reader.node("tokens") else { return [] }
        guard case .sequence(let items) = node.kind else {
            if case .null = node.kind { return [] }
            reader.problem(node.line, "admin: 'tokens' must be a list of { name, token_hash }")
            return []
        }
        var tokens: [APIToken] = []
        var seen: [String: Int] = [:]
        for item in items {
            var entry = MappingReader(item, context: "admin token")
            let name = entry.string("name", required: true)
            let hashText = entry.string("token_hash")
            let plain = entry.string("token")
            let scope = entry.choice("scope", APIToken.Scope.self) ?? .read
            let line = item.line
            entry.finish()
            reader.absorb(entry)
            guard let name else { continue }
            if !AdminUser.isValidName(name) {
                reader.problem(line, "admin token '\(name)': names are 1-64 letters, digits, '.', '-', '_' or '@'")
                continue
            }
            let digest: APIToken.Digest
            switch (hashText, plain) {
            case (let hashText?, nil):
                guard let parsed = APIToken.Digest(text: hashText) else {
                    reader.problem(line, "admin token '\(name)': 'token_hash' must be 'sha256:' and 64 hex digits (`pacsgate hash-password --token`)")
                    continue
                }
                digest = parsed
            case (nil, let plain?):
                guard plain.utf8.count >= APIToken.minimumLength else {
                    reader.problem(line, "admin token '\(name)': 'token' must be at least \(APIToken.minimumLength) characters")
                    continue
                }
                digest = APIToken.Digest(of: plain)
            case (nil, nil):
                reader.problem(line, "admin token '\(name)': give 'token_hash' (preferred) or 'token'")
                continue
            case (.some, .some):
                reader.problem(line, "admin token '\(name)': give 'token_hash' or 'token', not both")
                continue
            }
            if let first = seen[name] {
                reader.problem(line, "admin: duplicate token name '\(name)' (first at line \(first))")
                continue
            }
            seen[name] = line
            tokens.append(APIToken(name: name, digest: digest, scope: scope))
        }
        return tokens
    }
}

/// A user of the admin page.
public struct AdminUser: Sendable, Equatable {
    public var name: String
    /// A bcrypt hash (`$2b$12$…`).
    public var passwordHash: String

    public init(name: String, passwordHash: String) {
        self.name = name
        self.passwordHash = passwordHash
    }

    /// 1–64 of letters, digits, `.`, `-`, `_`, `@` (names appear in audit records and the page).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_@".unicodeScalars.contains($0)) }
    }
}

extension ConfigSectionKey {
    /// `admin:`, the admin server's section (``AdminConfiguration``).
    public static let admin: ConfigSectionKey = "admin"
}
