/// The routing a gateway in transparent mode needs, exactly as docs/operations.md ("Transparent mode") gives it: the
/// nodes' answers to a modality's address are marked when they belong to a transparent socket, and marked packets are
/// delivered locally. The single-unit test (TransparentNamespaceTests) and the HA pair's (TransparentPairNamespaceTests)
/// set it up with these commands, so the documented recipe is the one both try.
package enum TransparentRouting {
    /// The nftables ruleset (`nft -f FILE`).
    package static let ruleset = """
        table ip pacsgate_transparent {
            chain prerouting {
                type filter hook prerouting priority mangle; policy accept;
                meta l4proto tcp socket transparent 1 meta mark set 1 accept
            }
        }

        """

    /// The commands that set it up in network namespace `namespace`, with ``ruleset`` written to `rulesetFile`
    /// (`ip` is iproute2's executable).
    package static func commands(ip: String, namespace: String, rulesetFile: String) -> [[String]] {
        [
            [ip, "-n", namespace, "rule", "add", "fwmark", "1", "lookup", "100"],
            [ip, "-n", namespace, "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"],
            [ip, "netns", "exec", namespace, "/usr/sbin/nft", "-f", rulesetFile],
        ]
    }
}
