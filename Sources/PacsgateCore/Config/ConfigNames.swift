/// A word a configuration file spells from an open vocabulary: the core defines some of its values and the modules
/// add theirs (``ProtocolName``, ``PersistenceKind``, ``HealthCheckKind``, ``ConfigSectionKey``).
///
/// Values are compared as types, never as strings; a string literal makes one (`"calling-ae"`), which is how modules
/// declare theirs (`extension PersistenceKind { static let callingAE: PersistenceKind = "calling-ae" }`).
public protocol ConfigName: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByStringLiteral,
    CustomStringConvertible
where RawValue == String, StringLiteralType == String {
    init(rawValue: String)
}

extension ConfigName {
    public init(stringLiteral value: String) { self.init(rawValue: value) }

    /// The word as the configuration file spells it.
    public var description: String { self.rawValue }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A service's `protocol:`. The core knows only ``tcp``; each protocol module declares its own name
/// (`ProtocolName.dicom` in the DICOM module) and registers under it (``ProtocolModule/name``).
public struct ProtocolName: ConfigName {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    /// Bytes forwarded as they are, with no module.
    public static let tcp: ProtocolName = "tcp"
}

/// A service's persistence `type:`. The core keys its stick table by ``none`` or ``sourceIP``; a protocol module adds
/// the types it can supply a key for (``ProtocolModule/persistenceTypes``, e.g. DICOM's `calling-ae`).
public struct PersistenceKind: ConfigName {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    /// No persistence.
    public static let none: PersistenceKind = "none"
    /// Keyed by the client's IP address.
    public static let sourceIP: PersistenceKind = "source-ip"
}

/// A health check's `type:`. The core runs ``none`` and ``connect``; a protocol module adds its checks by kind
/// (``ProtocolModule/healthChecks``, e.g. DICOM's `dicom-echo`).
public struct HealthCheckKind: ConfigName {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    /// No health check: every server counts as up.
    public static let none: HealthCheckKind = "none"
    /// A TCP connect (``ConnectHealthCheck``).
    public static let connect: HealthCheckKind = "connect"
}

/// Where a section a module outside the core decodes sits in the configuration: a top-level key (`admin`), or a key
/// of the core's `audit` or `logging` mapping (`audit.syslog`, the `syslog` key of `audit`). The module declares its
/// key (`ConfigSectionKey.admin` in the admin module), registers it (``ConfigSection``) and reads its node from
/// ``GatewayConfiguration/sections``.
public struct ConfigSectionKey: ConfigName {
    /// The path with its parts joined by `.` (`audit.syslog`).
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    /// The key `name` of the core's mapping `parent` (`nil`: a top-level key).
    public init(_ name: String, under parent: String? = nil) {
        self.rawValue = parent.map { "\($0).\(name)" } ?? name
    }

    /// The core's mapping the key sits in (`audit`), `nil` for a top-level key.
    public var parent: String? {
        guard let dot = self.rawValue.lastIndex(of: ".") else { return nil }
        return String(self.rawValue[..<dot])
    }

    /// The key itself (`syslog` of `audit.syslog`).
    public var name: String {
        guard let dot = self.rawValue.lastIndex(of: ".") else { return self.rawValue }
        return String(self.rawValue[self.rawValue.index(after: dot)...])
    }
}

extension ConfigNode {
    /// The node of the section `key` in this document, read without validation (for a module that reports its
    /// section's problems with those of a file the decoder refused); `nil` when the document has none.
    public func section(_ key: ConfigSectionKey) -> ConfigNode? {
        var node = self
        for part in key.rawValue.split(separator: ".") {
            guard case .mapping(let entries) = node.kind, let entry = entries.first(where: { $0.key == part }) else {
                return nil
            }
            node = entry.value
        }
        return node
    }
}

/// A configuration section a module outside the core decodes, as it registers it with the gateway
/// (``ProtocolRegistry/sections``): the decoder keeps the section's node for the module instead of reporting its key
/// as unknown.
public struct ConfigSection: Sendable, Hashable {
    public let key: ConfigSectionKey
    /// Whether a file with this section may name as a `source:` an address this host does not hold yet, because the
    /// module binds its addresses with IP_FREEBIND before it holds them (an HA unit and its VIP).
    public let allowsUnheldSource: Bool

    public init(_ key: ConfigSectionKey, allowsUnheldSource: Bool = false) {
        self.key = key
        self.allowsUnheldSource = allowsUnheldSource
    }
}
