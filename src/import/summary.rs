//! What an import says when it ends: the counts (rows read, logged, already logged, rejected by
//! reason, not attempted), the retries, the pace, and the exit status they come to.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use super::setup::Setup;

/// The result of an import.
pub(super) struct Summary {
    pub(super) rows: u64,
    pub(super) logged: u64,
    pub(super) already: u64,
    pub(super) rejected: u64,
    pub(super) by_reason: BTreeMap<String, u64>,
    pub(super) not_attempted: u64,
    pub(super) rate_limited: u64,
    pub(super) unavailable: u64,
    pub(super) elapsed: Duration,
    pub(super) stopped: Option<String>,
    pub(super) rejects_written: bool,
}

impl Summary {
    /// 2 if the import stopped, 1 if rows were rejected, else 0.
    fn exit_code(&self) -> u8 {
        if self.stopped.is_some() {
            2
        } else if self.rejected > 0 {
            1
        } else {
            0
        }
    }

    /// Rows per second.
    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.rows as f64 / secs
        } else {
            0.0
        }
    }

    /// Prints the summary (why the import stopped, if it did, on stderr) and returns the exit
    /// status.
    pub(super) fn print(&self, setup: &Setup, json: bool) -> ExitCode {
        let rejects = self
            .rejects_written
            .then(|| setup.rejects_path.display().to_string());
        if let Some(why) = &self.stopped {
            eprintln!("truce: import: stopped: {why}");
            if self.not_attempted > 0 {
                eprintln!(
                    "truce: import: {} row(s) read but not submitted; rows after them not read. \
                     Run the same import again to continue: rows already logged are recognised.",
                    self.not_attempted
                );
            }
        }
        if json {
            self.print_json(setup, rejects);
        } else {
            self.print_text(setup, rejects);
        }
        ExitCode::from(self.exit_code())
    }

    fn print_json(&self, setup: &Setup, rejects: Option<String>) {
        let code = self.exit_code();
        let secs = self.elapsed.as_secs_f64();
        let v = json!({
            "ok": code == 0,
            "exit": code,
            "format": setup.format.as_str(),
            "file": setup.file.display().to_string(),
            "agreement": setup.agreement,
            "rows": self.rows,
            "logged": self.logged,
            "already_logged": self.already,
            "rejected": self.rejected,
            "rejected_by_reason": self.by_reason,
            "not_attempted": self.not_attempted,
            "retries": {"rate_limited": self.rate_limited, "unavailable": self.unavailable},
            "elapsed_s": (secs * 1000.0).round() / 1000.0,
            "rows_per_s": (self.rate() * 10.0).round() / 10.0,
            "rejects_file": rejects,
            "stopped": self.stopped,
        });
        out!("{v}");
    }

    fn print_text(&self, setup: &Setup, rejects: Option<String>) {
        out!(
            "import {} {} under agreement {}",
            setup.format.as_str(),
            setup.file.display(),
            setup.agreement
        );
        out!("  rows read:       {}", self.rows);
        out!("  logged:          {}", self.logged);
        out!("  already logged:  {}", self.already);
        out!("  rejected:        {}", self.rejected);
        for (class, n) in &self.by_reason {
            out!("    {n:>7}  {class}");
        }
        if self.not_attempted > 0 {
            out!("  not attempted:   {}", self.not_attempted);
        }
        if self.rate_limited + self.unavailable > 0 {
            out!(
                "  retries:         {} rate-limited (429), {} unavailable",
                self.rate_limited,
                self.unavailable
            );
        }
        let (secs, rate) = (self.elapsed.as_secs_f64(), self.rate());
        out!("  elapsed:         {secs:.1} s ({rate:.0} rows/s)");
        if let Some(r) = &rejects {
            out!("  rejects:         {r}");
        }
    }
}
