import PacsgateCore

/// The protocol modules built into this gateway.
enum BuiltInModules {
    static var registry: ProtocolRegistry {
        ProtocolRegistry([])
    }
}
