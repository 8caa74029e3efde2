package import PacsgateCore

extension ProtocolRegistry {
    /// A registry of `modules` in a gateway otherwise as the executable builds it (`BuiltInModules.registry`): the
    /// sections of the admin, HA and audit-export modules (which these test targets may not link), and the product's
    /// other protocols as not built in (forwarded as plain TCP with a warning). `ConfigurationLoaderTests` checks
    /// that it matches the executable's registry.
    package static func gateway(_ modules: [any ProtocolModule]) -> ProtocolRegistry {
        ProtocolRegistry(
            modules,
            sections: [ConfigSection("admin"), ConfigSection("ha", allowsUnheldSource: true), ConfigSection("audit.syslog")],
            notBuilt: ["dicom", "hl7", "tls"])
    }
}
