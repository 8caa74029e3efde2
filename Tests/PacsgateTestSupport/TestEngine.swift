import Foundation
package import Logging
package import NIOCore
import NIOPosix
package import PacsgateCore
import PacsgateDataPlane

/// The engine the suites' gateways run on, so that every suite runs on both: `PACSGATE_TEST_ENGINE=nio` gives the
/// gateways no native engine, so `engine: auto` (every suite's services) resolves to NIO; unset or `native`, they
/// have it, and `auto` resolves to native on Linux for services that do not terminate TLS. scripts/test.sh runs the
/// forwarding, DICOM, HL7, TLS, reliability and admin suites once each way.
package enum TestEngine {
    /// The engine named by the environment, if any.
    package static var requested: EngineChoice? {
        guard let value = ProcessInfo.processInfo.environment["PACSGATE_TEST_ENGINE"], !value.isEmpty else { return nil }
        return EngineChoice(rawValue: value)
    }

    /// The native engine the test gateways get: the process's shared one, unless NIO is requested.
    package static var native: (any ForwardingEngine)? {
        if Self.requested == .nio { return nil }
        #if os(Linux)
        return try? NativeEngine.shared()
        #else
        return nil
        #endif
    }

    /// A top-level `engine:` line for configurations a test gives the `pacsgate` executable: `engine: nio` when NIO
    /// is requested (the executable has the native engine), nothing otherwise.
    package static var configurationLine: String {
        Self.requested == .nio ? "engine: nio\n" : ""
    }

    /// The engine a service that can run on either runs on in this test run.
    package static var effective: Engine { Self.native == nil ? .nio : .native }

    /// A gateway on `group` (NIO's singleton by default) with the native engine when this run has one.
    package static func gateway(
        configuration: GatewayConfiguration, audit: AuditLog, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) -> Gateway {
        Gateway(configuration: configuration, group: group, audit: audit, logger: logger, nativeEngine: Self.native)
    }
}
