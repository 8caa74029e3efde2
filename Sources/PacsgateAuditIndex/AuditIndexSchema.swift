import SQLiteNIO

/// The tables of the audit search index.
///
/// `files`: each log file indexed so far, known by device, inode and the first bytes of its first line (rotation
/// renames files), and how many of its bytes are indexed. `records`: one row per line — where it is (file, offset,
/// length: the line itself is read from the log, which stays the record of truth) and the fields searched on, each
/// with an index that ends in `time` so "this AE over this day, newest first" is a range scan. `hourly`: counts per
/// hour, service, calling AE (or HL7 sending application), unit and result, kept up to date as records come and go,
/// for the reports.
enum AuditIndexSchema {
    /// Bumped whenever a table changes; an index of another version is rebuilt from the log.
    static let version = "1"

    static let create = [
        """
        CREATE TABLE files (
            id INTEGER PRIMARY KEY, device INTEGER NOT NULL, inode INTEGER NOT NULL, head BLOB NOT NULL,
            indexed INTEGER NOT NULL, path TEXT NOT NULL)
        """,
        """
        CREATE TABLE records (
            id INTEGER PRIMARY KEY, file INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
            time INTEGER NOT NULL, event TEXT, service TEXT, calling_ae TEXT, called_ae TEXT, client_ip BLOB,
            server TEXT, server_ip BLOB, outcome TEXT, sni TEXT, message_type TEXT, control_id TEXT, party TEXT,
            unit INTEGER NOT NULL, result INTEGER NOT NULL)
        """,
        "CREATE INDEX records_time ON records(time)",
        "CREATE INDEX records_file ON records(file)",
        "CREATE INDEX records_calling_ae ON records(calling_ae, time) WHERE calling_ae IS NOT NULL",
        "CREATE INDEX records_called_ae ON records(called_ae, time) WHERE called_ae IS NOT NULL",
        "CREATE INDEX records_client ON records(client_ip, time) WHERE client_ip IS NOT NULL",
        "CREATE INDEX records_event ON records(event, time)",
        "CREATE INDEX records_control_id ON records(control_id) WHERE control_id IS NOT NULL",
        """
        CREATE TABLE hourly (
            hour INTEGER NOT NULL, service TEXT NOT NULL, party TEXT NOT NULL, unit INTEGER NOT NULL,
            result INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (hour, service, party, unit, result)
        ) WITHOUT ROWID
        """,
    ]

    static let drop = ["DROP TABLE IF EXISTS records", "DROP TABLE IF EXISTS files", "DROP TABLE IF EXISTS hourly"]

    /// The record columns written per line, in the order of ``insert(rows:)``'s values.
    static let recordColumns = [
        "file", "offset", "length", "time", "event", "service", "calling_ae", "called_ae", "client_ip", "server",
        "server_ip", "outcome", "sni", "message_type", "control_id", "party", "unit", "result",
    ]

    /// `INSERT INTO records(…) VALUES (?,…),(?,…)…` for `rows` rows.
    static func insert(rows: Int) -> String {
        let one = "(" + Array(repeating: "?", count: Self.recordColumns.count).joined(separator: ",") + ")"
        return "INSERT INTO records(" + Self.recordColumns.joined(separator: ",") + ") VALUES "
            + Array(repeating: one, count: rows).joined(separator: ",")
    }

    /// Adds counts to `hourly` (negative counts remove records of a file that left the log).
    static func addHourly(rows: Int) -> String {
        "INSERT INTO hourly(hour, service, party, unit, result, count) VALUES "
            + Array(repeating: "(?,?,?,?,?,?)", count: rows).joined(separator: ",")
            + " ON CONFLICT(hour, service, party, unit, result) DO UPDATE SET count = count + excluded.count"
    }

    /// Takes the records of one file out of `hourly` (before the records themselves are deleted).
    static let subtractFile = """
        INSERT INTO hourly(hour, service, party, unit, result, count)
        SELECT time / 3600000 * 3600000, coalesce(service, ''), coalesce(party, ''), unit, result, -count(*)
        FROM records WHERE file = ? AND unit > 0 GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT(hour, service, party, unit, result) DO UPDATE SET count = count + excluded.count
        """
}
