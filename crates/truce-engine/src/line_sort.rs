//! Lines sorted by their bytes in bounded memory: sorted runs in the cold tier, merged.
//!
//! Why: the state digest's `incidents` section is SHA-256 over every incident line sorted by its
//! bytes (crate `digest` module), and the lines name every member by id: about 130 bytes per
//! observation, 1.3 GB for a 10M-entry log, all held at once to be sorted (`GET /v1/state` took a
//! server resting at 750 MB to 2.1 GB). With a cold tier attached, lines are sorted in runs of
//! [`RUN_BYTES`]; each run is written to the cold tier in pieces of about [`PIECE_BYTES`] (each
//! checked by its hash when read back), and the runs are merged reading one piece of each at a
//! time. The runs go to a scratch store of the tier ([`crate::cold::ColdStore::scratch`]),
//! whose space is given back once the digest is computed: the tier's main store is append-only
//! and a digest at every new log size would otherwise fill the disk. Without a scratch store, or
//! once it refuses a write, lines stay in memory and the result is the same: the order is byte
//! order either way.

use crate::cold::{Blob, Cold};

/// Bytes of lines sorted in memory before they go to the cold tier as a run (a few in tests).
const RUN_BYTES: usize = if cfg!(test) { 300 } else { 64 << 20 };

/// Bytes per piece of a run (a line longer than this is a piece of its own).
const PIECE_BYTES: usize = if cfg!(test) { 64 } else { 1 << 20 };

/// Bytes per buffer of lines held in memory.
const LINES_CHUNK: usize = 1 << 20;

/// Collects lines (each ending with its only `\n`) and yields them sorted by their bytes.
pub(crate) struct LineSorter<'c> {
    cold: Option<&'c Cold>,
    chunks: Vec<Vec<u8>>,
    /// (chunk, start, end) of each line held in memory.
    lines: Vec<(u32, u32, u32)>,
    bytes: usize,
    /// Sorted runs in the cold tier, each as its pieces in order.
    runs: Vec<Vec<Blob>>,
    /// The tier refused a write: no more runs.
    refused: bool,
}

impl<'c> LineSorter<'c> {
    pub(crate) fn new(cold: Option<&'c Cold>) -> LineSorter<'c> {
        LineSorter {
            cold,
            chunks: vec![Vec::with_capacity(LINES_CHUNK)],
            lines: Vec::new(),
            bytes: 0,
            runs: Vec::new(),
            refused: false,
        }
    }

    /// Adds `line`.
    pub(crate) fn push(&mut self, line: &[u8]) {
        let last = self.chunks.last().expect("at least one chunk");
        if last.len() + line.len() > last.capacity() {
            self.chunks
                .push(Vec::with_capacity(LINES_CHUNK.max(line.len())));
        }
        let at = |n: usize| u32::try_from(n).expect("chunks hold less than 4 GiB");
        let c = at(self.chunks.len() - 1);
        let chunk = self.chunks.last_mut().expect("at least one chunk");
        let start = at(chunk.len());
        chunk.extend_from_slice(line);
        self.lines.push((c, start, at(chunk.len())));
        self.bytes += line.len();
        if self.bytes >= RUN_BYTES && self.cold.is_some() && !self.refused {
            self.spill();
        }
    }

    /// The lines held in memory, sorted.
    fn sorted(&self) -> Vec<&[u8]> {
        let mut lines: Vec<&[u8]> = self
            .lines
            .iter()
            .map(|&(c, a, b)| &self.chunks[c as usize][a as usize..b as usize])
            .collect();
        crate::digest::sort_lines(&mut lines);
        lines
    }

    /// Writes the lines held in memory to the cold tier as a sorted run and forgets them. A tier
    /// that refuses a write gets no more: the lines stay in memory (and the pieces it took are
    /// never read).
    fn spill(&mut self) {
        let Some(cold) = self.cold else { return };
        let mut pieces = Vec::new();
        let mut piece = Vec::with_capacity(PIECE_BYTES);
        let mut refused = false;
        for line in self.sorted() {
            if !piece.is_empty() && piece.len() + line.len() > PIECE_BYTES {
                match cold.put(&piece) {
                    Ok(blob) => pieces.push(blob),
                    Err(_) => {
                        refused = true;
                        break;
                    }
                }
                piece.clear();
            }
            piece.extend_from_slice(line);
        }
        if !refused && !piece.is_empty() {
            match cold.put(&piece) {
                Ok(blob) => pieces.push(blob),
                Err(_) => refused = true,
            }
        }
        if refused {
            self.refused = true;
            return;
        }
        self.runs.push(pieces);
        self.chunks = vec![Vec::with_capacity(LINES_CHUNK)];
        self.lines.clear();
        self.bytes = 0;
    }

    /// Calls `f` with every line, in byte order.
    pub(crate) fn finish(self, mut f: impl FnMut(&[u8])) {
        let memory = self.sorted();
        let Some(cold) = self.cold.filter(|_| !self.runs.is_empty()) else {
            memory.into_iter().for_each(f);
            return;
        };
        let mut sources: Vec<Source<'_>> = self
            .runs
            .iter()
            .map(|pieces| Source::run(cold, pieces))
            .collect();
        sources.push(Source::Memory(memory, 0));
        loop {
            let mut best: Option<(usize, &[u8])> = None;
            for (i, s) in sources.iter().enumerate() {
                if let Some(line) = s.head()
                    && best.is_none_or(|(_, b)| line < b)
                {
                    best = Some((i, line));
                }
            }
            let Some((i, line)) = best else { break };
            f(line);
            sources[i].advance(cold);
        }
    }
}

/// One sorted source of the merge.
enum Source<'a> {
    /// A run in the cold tier: its pieces, the next one to read, the piece read, and where its
    /// next line starts and ends (found once per line: the merge asks every source for its line
    /// at every step).
    Run {
        pieces: &'a [Blob],
        next: usize,
        buf: Vec<u8>,
        at: usize,
        end: usize,
    },
    /// The lines still in memory, sorted, and the next one.
    Memory(Vec<&'a [u8]>, usize),
}

impl<'a> Source<'a> {
    fn run(cold: &Cold, pieces: &'a [Blob]) -> Source<'a> {
        let mut s = Source::Run {
            pieces,
            next: 0,
            buf: Vec::new(),
            at: 0,
            end: 0,
        };
        s.refill(cold);
        s
    }

    /// Reads the next piece once the current one is used up, and finds where the next line
    /// ends.
    fn refill(&mut self, cold: &Cold) {
        if let Source::Run {
            pieces,
            next,
            buf,
            at,
            end,
        } = self
        {
            if *at >= buf.len() && *next < pieces.len() {
                *buf = cold.get(&pieces[*next]).unwrap_or_else(|e| cold.fail(e));
                *next += 1;
                *at = 0;
            }
            let rest = &buf[(*at).min(buf.len())..];
            *end = *at
                + rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |n| n + 1);
        }
    }

    fn head(&self) -> Option<&[u8]> {
        match self {
            Source::Run { buf, at, end, .. } => buf.get(*at..*end).filter(|l| !l.is_empty()),
            Source::Memory(lines, i) => lines.get(*i).copied(),
        }
    }

    fn advance(&mut self, cold: &Cold) {
        match self {
            Source::Run { at, end, .. } => *at = *end,
            Source::Memory(_, i) => *i += 1,
        }
        self.refill(cold);
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::cold::{ColdStore, MemoryCold, Tiering};

    /// A store that refuses every write after the first `n`.
    #[derive(Debug)]
    struct Refusing(MemoryCold, std::sync::atomic::AtomicUsize);

    impl ColdStore for Refusing {
        fn append(&self, bytes: &[u8]) -> io::Result<u64> {
            if self.1.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                self.1.store(0, std::sync::atomic::Ordering::SeqCst);
                return Err(io::ErrorKind::StorageFull.into());
            }
            self.0.append(bytes)
        }

        fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            self.0.read_at(offset, buf)
        }
    }

    fn sorted_through(lines: &[Vec<u8>], store: Option<Arc<dyn ColdStore>>) -> Vec<Vec<u8>> {
        let cold = store.map(|s| Cold::new(s, Tiering::default()));
        let mut sorter = LineSorter::new(cold.as_ref());
        for l in lines {
            sorter.push(l);
        }
        let mut out = Vec::new();
        sorter.finish(|l| out.push(l.to_vec()));
        out
    }

    proptest! {
        /// Through runs in the cold tier or in memory, and whatever write the tier refuses, the
        /// lines come out as a plain sort orders them.
        #[test]
        fn lines_come_out_in_byte_order(
            texts in prop::collection::vec("[a-c]{0,6}|[a-z{}\":,]{20,90}", 0..60),
            refuse_after in 0usize..8,
        ) {
            let lines: Vec<Vec<u8>> = texts.iter().map(|t| format!("{t}\n").into_bytes()).collect();
            let mut expected = lines.clone();
            expected.sort();
            prop_assert_eq!(&sorted_through(&lines, None), &expected);
            let memory: Arc<dyn ColdStore> = Arc::new(MemoryCold::default());
            prop_assert_eq!(&sorted_through(&lines, Some(memory)), &expected);
            let refusing: Arc<dyn ColdStore> = Arc::new(Refusing(
                MemoryCold::default(),
                std::sync::atomic::AtomicUsize::new(refuse_after),
            ));
            prop_assert_eq!(&sorted_through(&lines, Some(refusing)), &expected);
        }
    }
}
