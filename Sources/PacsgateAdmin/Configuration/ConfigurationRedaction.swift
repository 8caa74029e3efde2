import PacsgateConfig
import PacsgateCore

/// The configuration as a principal below `admin` may read it: every secret value (password and token hashes, plain
/// tokens, shared secrets) replaced by `(redacted)`, everything else — comments and layout included — as written.
public enum ConfigurationRedaction {
    /// Keys whose values are secrets, or hashes of them (which allow offline guessing).
    public static let secretKeys: Set<String> = [
        "password", "password_hash", "token", "token_hash", "secret", "shared_secret", "passphrase",
    ]

    public static let placeholder = "(redacted)"

    /// `text` with the value of every secret key replaced, or `nil` when a secret cannot be found as written in the
    /// text (an escaped or folded value) and so cannot be redacted in place: the caller must not serve it then.
    public static func redact(_ text: String) -> String? {
        guard case .success(let root) = ConfigurationLoader.parse(yaml: text) else { return nil }
        var secrets: Set<String> = []
        Self.collect(root, into: &secrets)
        var redacted = text
        // Longest first, so a secret that contains another is replaced whole.
        for secret in secrets.sorted(by: { $0.count > $1.count }) where !secret.isEmpty {
            guard redacted.contains(secret) else {
                // Already replaced as part of a longer one, or not written verbatim.
                if text.contains(secret) { continue }
                return nil
            }
            redacted = redacted.replacingOccurrences(of: secret, with: Self.placeholder)
        }
        return redacted
    }

    private static func collect(_ node: ConfigNode, into secrets: inout Set<String>) {
        switch node.kind {
        case .mapping(let entries):
            for entry in entries {
                if Self.secretKeys.contains(entry.key.lowercased()) {
                    Self.scalars(entry.value, into: &secrets)
                } else {
                    Self.collect(entry.value, into: &secrets)
                }
            }
        case .sequence(let items):
            for item in items { Self.collect(item, into: &secrets) }
        case .scalar, .null:
            break
        }
    }

    /// Every scalar under a secret key (a secret may be given as a list or mapping too).
    private static func scalars(_ node: ConfigNode, into secrets: inout Set<String>) {
        switch node.kind {
        case .scalar(let text): secrets.insert(text)
        case .mapping(let entries): for entry in entries { Self.scalars(entry.value, into: &secrets) }
        case .sequence(let items): for item in items { Self.scalars(item, into: &secrets) }
        case .null: break
        }
    }
}

import Foundation
