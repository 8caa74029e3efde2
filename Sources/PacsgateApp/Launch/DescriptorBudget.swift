import Logging
import PacsgateCore

#if canImport(Glibc)
import Glibc
#endif

/// The process's file-descriptor limit against what the configuration may need.
///
/// Every proxied connection holds two descriptors (the client's and the server's leg), so a gateway whose services
/// add up to `maxconn` 20,000 needs 40,000 and more. Most systems start a process with a soft limit of 1024 and a
/// far higher hard limit; `run` raises the soft limit to the hard one (as HAProxy and nginx do) and warns when even
/// that does not cover the configuration. At the limit nothing breaks: the listeners pause accepting (see the core's
/// `AcceptPause`) and waiting clients stay in the listen backlog until descriptors are free.
enum DescriptorBudget {
    /// Descriptors beyond the connections' and listeners': standard streams, the audit log, event loops' epoll and
    /// wake-up descriptors, health checks, the admin server (64 connections at most) and the HA link.
    static let margin = 128

    /// Two per connection up to every service's `maxconn`, one per listener, and the margin.
    static func needed(for configuration: GatewayConfiguration) -> Int {
        configuration.services.reduce(Self.margin) { $0 + 2 * $1.maxConnections + 1 }
    }

    /// The soft and hard `RLIMIT_NOFILE`.
    struct Limit: Equatable {
        var soft: UInt64
        var hard: UInt64
    }

    static func current() -> Limit? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return Limit(soft: UInt64(limit.rlim_cur), hard: UInt64(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one; returns the limit before and after (the same when it cannot be raised).
    static func raise() -> (before: Limit, after: Limit)? {
        guard let before = self.current() else { return nil }
        guard before.soft < before.hard else { return (before, before) }
        var limit = rlimit(rlim_cur: rlim_t(before.hard), rlim_max: rlim_t(before.hard))
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, let after = self.current() else { return (before, before) }
        return (before, after)
    }

    /// Raises the limit and logs what an operator needs to know: the raise (info), and a warning when the limit is
    /// below what the configuration may need.
    static func prepare(for configuration: GatewayConfiguration, logger: Logger) {
        guard let (before, after) = self.raise() else {
            logger.warning("cannot read the file-descriptor limit (RLIMIT_NOFILE)")
            return
        }
        if after.soft != before.soft {
            logger.info(
                "raised the file-descriptor limit to the hard limit",
                metadata: ["limit.before": "\(before.soft)", "limit.now": "\(after.soft)"])
        }
        let needed = self.needed(for: configuration)
        guard after.soft < UInt64(needed) else { return }
        let services = configuration.services.map { "\($0.label) \($0.maxConnections)" }.joined(separator: ", ")
        logger.warning(
            "the file-descriptor limit is below what maxconn allows; at the limit new connections wait in the listen backlog until descriptors are free",
            metadata: [
                "limit": "\(after.soft)", "limit.hard": "\(after.hard)", "needed": "\(needed)",
                "maxconn": "\(services)",
                "hint": "two descriptors per connection plus one per listener and \(Self.margin); raise LimitNOFILE= (systemd) or ulimit -n, or lower maxconn",
            ])
    }
}
