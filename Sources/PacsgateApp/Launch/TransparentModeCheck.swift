import Foundation
import Logging
import PacsgateCore

#if canImport(Glibc)
import Glibc
#endif

/// `transparent: true` binds the server leg to the client's own address with IP_TRANSPARENT, which the kernel allows
/// only with CAP_NET_ADMIN: `run` checks for it before any socket is bound and says exactly what is missing, instead
/// of every association failing later with "operation not permitted".
enum TransparentModeCheck {
    /// CAP_NET_ADMIN's bit in the capability sets (linux/capability.h).
    static let netAdmin = 12

    /// The effective capability set from the text of `/proc/self/status` (`CapEff:\t0000003fffffffff`).
    static func effectiveCapabilities(status: String) -> UInt64? {
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        }
        return nil
    }

    /// The sentence that stops the start, or `nil` when no service is transparent or the capability is there.
    static func problem(_ configuration: GatewayConfiguration, effective: UInt64?) -> String? {
        let services = configuration.services.filter(\.transparent).map(\.label)
        guard !services.isEmpty else { return nil }
        if let effective, effective & (1 << UInt64(Self.netAdmin)) != 0 { return nil }
        let which = services.map { "'\($0)'" }.joined(separator: ", ")
        return "service \(which) has 'transparent: true', which binds the client's own address (IP_TRANSPARENT) and "
            + "needs the capability CAP_NET_ADMIN; this process does not have it"
            + (effective.map { " (effective capabilities 0x\(String($0, radix: 16)))" } ?? "")
            + ". Run pacsgate with it (systemd: AmbientCapabilities=CAP_NET_ADMIN and CapabilityBoundingSet including "
            + "it; see docs/operations.md, \"Transparent mode\") or remove 'transparent'"
    }

    /// Reads this process's capabilities and throws the problem, logged, when there is one.
    static func verify(_ configuration: GatewayConfiguration, logger: Logger) throws {
        guard configuration.services.contains(where: \.transparent) else { return }
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        if let problem = Self.problem(configuration, effective: Self.effectiveCapabilities(status: status)) {
            logger.critical("cannot start transparent mode", metadata: ["error": "\(problem)"])
            throw TransparentModeUnavailable(description: problem)
        }
    }
}

struct TransparentModeUnavailable: Error, CustomStringConvertible {
    var description: String
}
