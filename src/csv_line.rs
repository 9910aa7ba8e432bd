//! The line of a CSV file that a record starts on, as an editor numbers it. The `csv`
//! crate's [`csv::Position::line`] skips blank lines, so an error after one would name
//! the line before the bad one; the newlines before the record's first byte say the line.

use std::path::Path;

/// The 1-based line of `path` on which the record at `pos` starts (the reader's own line
/// count when the file cannot be read again).
pub fn line_of(path: &Path, pos: &csv::Position) -> u64 {
    match std::fs::read(path) {
        Ok(bytes) => Lines::of(bytes).line(pos),
        Err(_) => pos.line(),
    }
}

/// A file's line ends, read once, for the lines of many records (a message naming every
/// bad row of a long file).
pub struct Lines {
    bytes: Vec<u8>,
    newlines: Vec<usize>,
}

impl Lines {
    /// The lines of `path` (none when it cannot be read: every line is then 1).
    pub fn open(path: &Path) -> Lines {
        Lines::of(std::fs::read(path).unwrap_or_default())
    }

    fn of(bytes: Vec<u8>) -> Lines {
        let newlines = memchr::memchr_iter(b'\n', &bytes).collect();
        Lines { bytes, newlines }
    }

    /// The 1-based line the record at `pos` starts on.
    pub fn line(&self, pos: &csv::Position) -> u64 {
        let at = (pos.byte() as usize).min(self.bytes.len());
        // The reader's offset is where it began: before the blank lines it skipped.
        let skipped = self.bytes[at..]
            .iter()
            .take_while(|b| matches!(b, b'\n' | b'\r'))
            .filter(|&&b| b == b'\n')
            .count();
        (self.newlines.partition_point(|&n| n < at) + skipped) as u64 + 1
    }
}

/// Where a record is: its line is worked out only when asked for, as an error is being
/// written, since that reads the file again (per record, a store of 70,000 rows took
/// seconds to load).
#[derive(Debug, Clone)]
pub struct Line<'a> {
    path: &'a Path,
    pos: Option<csv::Position>,
}

impl<'a> Line<'a> {
    /// The place of `rec`, read from `path`.
    pub fn of(path: &'a Path, rec: &csv::StringRecord) -> Self {
        Line {
            path,
            pos: rec.position().cloned(),
        }
    }

    /// The 1-based line ([`line_of`]); 0 when the reader gave no position.
    pub fn get(&self) -> u64 {
        self.pos.as_ref().map_or(0, |p| line_of(self.path, p))
    }
}

/// A CSV error as "line N: what", with N from [`line_of`]; the error's own text when it
/// has no position.
pub fn describe(path: &Path, e: &csv::Error) -> String {
    match (e.kind(), e.position()) {
        (csv::ErrorKind::Deserialize { err, .. }, Some(p)) => {
            format!("line {}: {err}", line_of(path, p))
        }
        // The crate's own text names its line count too ("record 2 (line: 3, ...)").
        (
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            },
            Some(p),
        ) => format!(
            "line {}: {len} field(s), where the rows before have {expected_len}",
            line_of(path, p)
        ),
        (csv::ErrorKind::Utf8 { err, .. }, Some(p)) => format!(
            "line {}: field {} is not UTF-8 text",
            line_of(path, p),
            err.field() + 1
        ),
        (_, Some(p)) => format!("line {}: {e}", line_of(path, p)),
        (_, None) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_after_blank_lines_gets_its_editor_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,b\n1,2\n\n\n3,x\n").unwrap();
        let mut rdr = csv::Reader::from_path(&path).unwrap();
        let recs: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        assert_eq!(line_of(&path, recs[0].position().unwrap()), 2);
        assert_eq!(line_of(&path, recs[1].position().unwrap()), 5);
    }

    /// Regression: a short or long row's error named the crate's line count ("line: 3"
    /// for the row on line 5, after two blank lines).
    #[test]
    fn a_row_of_the_wrong_length_is_named_by_its_editor_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,b\n1,2\n\n\n3,4,5\n").unwrap();
        let mut rdr = csv::Reader::from_path(&path).unwrap();
        let e = rdr.records().find_map(Result::err).unwrap();
        let said = describe(&path, &e);
        assert_eq!(said, "line 5: 3 field(s), where the rows before have 2");
    }
}
