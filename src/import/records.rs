//! Reading the file a record at a time, each bounded in size, and the CSV formats' reading loop.
//!
//! A data set can be larger than memory and may be hostile, so nothing is read whole: the CSV
//! reader and the GeoJSON visitor ([`super::geojson`]) both read through [`Limited`], which fails
//! any one record (or feature) longer than [`MAX_RECORD_BYTES`], and counts the bytes read for the
//! progress bar.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cells::Columns;
use super::{MAX_RECORD_BYTES, Mapped, Reject};

/// Counts the bytes read since the last [`Limit::reset`] and fails the read beyond a bound, so
/// that one record (or feature) can never grow without limit in memory.
#[derive(Clone)]
pub(super) struct Limit {
    since_reset: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    max: u64,
}

impl Limit {
    pub(super) fn new(max: u64) -> Limit {
        Limit {
            since_reset: Arc::new(AtomicU64::new(0)),
            total: Arc::new(AtomicU64::new(0)),
            max,
        }
    }

    pub(super) fn reset(&self) {
        self.since_reset.store(0, Ordering::Relaxed);
    }

    pub(super) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// A reader that fails a read once more than the [`Limit`]'s bound was read since its last reset.
pub(super) struct Limited<R> {
    pub(super) inner: R,
    pub(super) limit: Limit,
}

/// The message of the error [`Limited`] raises; recognised to explain it.
pub(super) const TOO_LONG: &str = "record too long";

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.limit.since_reset.load(Ordering::Relaxed) > self.limit.max {
            return Err(io::Error::other(TOO_LONG));
        }
        let n = self.inner.read(buf)?;
        let n64 = n as u64;
        self.limit.since_reset.fetch_add(n64, Ordering::Relaxed);
        self.limit.total.fetch_add(n64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A CSV format: its required columns, what a file of it is called, and its mapping.
pub(super) struct CsvFormat {
    /// The columns the header must have (lower case).
    pub(super) columns: &'static [&'static str],
    /// What a file of this format is, with its article ("a UCDP GED CSV").
    pub(super) described: &'static str,
    /// Maps one record of a header.
    pub(super) map: fn(&Columns, &csv::ByteRecord) -> Mapped,
}

/// Reads the CSV file `name` record by record, handing each mapped record to `handle` (with its
/// row number from 1 and the line where it starts) until it returns false. `Err` says why the
/// file could not be read (further): a header without the format's columns, a malformed or
/// overlong record.
pub(super) fn read_csv<R: Read>(
    reader: R,
    limit: &Limit,
    format: &CsvFormat,
    name: &str,
    handle: &mut dyn FnMut(u64, Option<u64>, Mapped) -> bool,
) -> Result<(), String> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let headers = rdr
        .byte_headers()
        .map_err(|e| format!("{name}: reading the header: {}", csv_error(&e)))?
        .clone();
    let cols = Columns::new(&headers);
    let missing = cols.missing(format.columns);
    if !missing.is_empty() {
        return Err(format!(
            "{name}: not {} file: the header lacks the column{} {}",
            format.described,
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    let mut rec = csv::ByteRecord::new();
    let mut row = 0u64;
    loop {
        limit.reset();
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                row += 1;
                let line = rec.position().map(csv::Position::line);
                if !handle(row, line, map_record(format, &cols, &rec)) {
                    return Ok(());
                }
            }
            Err(e) => {
                // Where the failing record starts: its own position, else where the reader
                // stands (after the last good record).
                let line = e.position().unwrap_or(rdr.position()).line();
                let at = format!("record {} (line {line})", row + 1);
                return Err(format!("{name}: {at}: {}", csv_error(&e)));
            }
        }
    }
}

/// Maps one record; one with another number of fields than the header is a reject (with its id,
/// if that column can be read).
fn map_record(format: &CsvFormat, cols: &Columns, rec: &csv::ByteRecord) -> Mapped {
    let mapped = (format.map)(cols, rec);
    if rec.len() == cols.len {
        return mapped;
    }
    let reject = Reject::new(
        "record length",
        format!(
            "the record has {} fields, the header {}",
            rec.len(),
            cols.len
        ),
    );
    (mapped.0, Err(reject))
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) if io.to_string() == TOO_LONG => {
            format!("a record is longer than {MAX_RECORD_BYTES} bytes (is this a CSV file?)")
        }
        _ => e.to_string(),
    }
}
