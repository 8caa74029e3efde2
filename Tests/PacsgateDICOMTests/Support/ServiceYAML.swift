/// YAML for one `protocol: dicom` service entry of a test configuration.
///
/// `extra` lines are service keys indented by four spaces (e.g. `"    persistence: calling-ae"`).
func dicomServiceYAML(_ label: String = "DICOM", servers: [String], extra: [String] = []) -> String {
    var lines = [
        "  - label: \(label)",
        "    listen: \"127.0.0.1:11112\"",
        "    protocol: dicom",
        "    connect_timeout: 5s",
    ]
    lines += extra
    lines.append("    servers:")
    lines += servers.map { "      - \($0)" }
    return lines.joined(separator: "\n")
}
