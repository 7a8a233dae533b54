//! `cairn ctl` output: aligned human tables by default, one JSON document with `-o json`.

use serde_json::Value;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document on stdout, for scripts.
    Json,
}

/// What a command produced: a table (or plain lines) for people, JSON for scripts.
pub struct Report {
    pub json: Value,
    pub human: String,
}

impl Report {
    pub fn new(json: Value, human: impl Into<String>) -> Self {
        Self {
            json,
            human: human.into(),
        }
    }

    pub fn print(&self, format: Format) {
        match format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&self.json).unwrap_or_default()
            ),
            Format::Table => {
                if !self.human.is_empty() {
                    println!("{}", self.human.trim_end());
                }
            }
        }
    }
}

/// Left-aligned columns separated by two spaces; the header row first. No borders, no
/// colour, no wrapping to the terminal's width, no trailing spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING)
        .set_header(header)
        .add_rows(rows);
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    t.trim_fmt() + "\n"
}

/// 1536 -> "1.5 KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Milliseconds since the epoch as UTC `YYYY-MM-DDTHH:MM:SSZ` (no date crate needed).
pub fn time_ms(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_sizes_read_well() {
        let t = table(
            &["ID", "ROLE"],
            &[
                vec!["1".into(), "leader".into()],
                vec!["10".into(), "x".into()],
            ],
        );
        assert_eq!(t, "ID  ROLE\n1   leader\n10  x\n");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(time_ms(0), "-");
        assert_eq!(time_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn tables_without_rows_or_with_empty_cells_keep_their_layout() {
        assert_eq!(table(&["ID", "ROLE", "PEER"], &[]), "ID  ROLE  PEER\n");
        let t = table(
            &["ID", "ROLE", "PEER"],
            &[
                vec!["".into(), "".into(), "".into()],
                vec!["é".into(), "a b".into(), "".into()],
                vec!["1".into(), "".into(), "z".into()],
            ],
        );
        assert_eq!(t, "ID  ROLE  PEER\n\né   a b\n1         z\n");
    }
}
