//! Output that outlives berthd being killed. A logged stream's bytes are moved from its FIFO
//! into a spool file with splice(2), so they are never only in berthd's memory; before each
//! json-file write a mark records which spool bytes the write holds and how long the log was
//! before it. A restarted berthd reads the marks and the log's length, and carries on from
//! the first spool byte the log does not hold: no line lost, none written twice.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// Once every byte of a spool this long is in the log, the spool starts over, so a spool
/// holds at most one chunk plus an unfinished line.
const SPOOL_RESET_LEN: u64 = 32 * 1024;

/// Whether a state file starts empty (a new run) or keeps what a killed berthd left.
#[derive(Clone, Copy)]
enum Fresh {
    Yes,
    No,
}

/// Opens (creating if need be) a marks or spool file for reading and writing.
fn open_state(path: &Path, fresh: Fresh) -> io::Result<File> {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(matches!(fresh, Fresh::Yes))
        .open(path)
}

/// Where one stream stands: its last write put spool bytes `from..to` into a log that was
/// `log_len` bytes long before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Mark {
    pub log_len: u64,
    pub from: u64,
    pub to: u64,
}

impl Mark {
    const BYTES: usize = 24;

    /// The spool offset up to which the log holds the stream. Only the last mark written
    /// can belong to a write that did not land, and a write that landed made the log
    /// longer than the mark says it was.
    pub fn logged_upto(&self, log_len_now: u64) -> u64 {
        if log_len_now > self.log_len {
            self.to
        } else {
            self.from
        }
    }

    fn encode(&self) -> [u8; Self::BYTES] {
        let mut b = [0u8; Self::BYTES];
        b[..8].copy_from_slice(&self.log_len.to_le_bytes());
        b[8..16].copy_from_slice(&self.from.to_le_bytes());
        b[16..].copy_from_slice(&self.to.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Mark {
        let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        Mark {
            log_len: word(0),
            from: word(8),
            to: word(16),
        }
    }
}

/// The marks file of a container's run: one mark per stream (stdout, then stderr), each
/// rewritten in place with one `pwrite`, which a killed process cannot leave half done.
pub(super) struct Marks {
    file: File,
    marks: [Mark; 2],
}

impl Marks {
    /// An empty marks file for a new run.
    pub fn create(path: &Path) -> io::Result<Marks> {
        let file = open_state(path, Fresh::Yes)?;
        let marks = Marks {
            file,
            marks: [Mark::default(); 2],
        };
        marks.write_all()?;
        Ok(marks)
    }

    /// The marks a previous berthd left (none if it left no file).
    pub fn resume(path: &Path) -> io::Result<Marks> {
        let file = open_state(path, Fresh::No)?;
        let mut buf = [0u8; 2 * Mark::BYTES];
        let n = file.read_at(&mut buf, 0)?;
        let marks = if n == buf.len() {
            [
                Mark::decode(&buf[..Mark::BYTES]),
                Mark::decode(&buf[Mark::BYTES..]),
            ]
        } else {
            [Mark::default(); 2]
        };
        Ok(Marks { file, marks })
    }

    pub fn get(&self, slot: usize) -> Mark {
        self.marks[slot]
    }

    pub fn set(&mut self, slot: usize, mark: Mark) -> io::Result<()> {
        self.marks[slot] = mark;
        self.file
            .write_all_at(&mark.encode(), (slot * Mark::BYTES) as u64)
    }

    /// Before the log is rotated or truncated: every write so far has landed, so each
    /// stream's mark says so outright rather than through a length that is about to change.
    pub fn settle(&mut self) -> io::Result<()> {
        for m in &mut self.marks {
            m.from = m.to;
        }
        self.write_all()
    }

    fn write_all(&self) -> io::Result<()> {
        let mut buf = [0u8; 2 * Mark::BYTES];
        buf[..Mark::BYTES].copy_from_slice(&self.marks[0].encode());
        buf[Mark::BYTES..].copy_from_slice(&self.marks[1].encode());
        self.file.write_all_at(&buf, 0)
    }
}

/// One stream's spool: `len` bytes moved out of the FIFO so far, the first `logged` of
/// them in the log.
pub(super) struct Spool {
    file: File,
    len: u64,
    logged: u64,
}

impl Spool {
    /// An empty spool for a new run.
    pub fn create(path: &Path) -> io::Result<Spool> {
        let file = open_state(path, Fresh::Yes)?;
        Ok(Spool {
            file,
            len: 0,
            logged: 0,
        })
    }

    /// The spool a previous berthd left, and the bytes of it the log does not hold yet.
    pub fn resume(path: &Path, logged_upto: u64) -> io::Result<(Spool, Vec<u8>)> {
        let file = open_state(path, Fresh::No)?;
        let len = file.metadata()?.len();
        let logged = logged_upto.min(len);
        let mut rest = vec![0u8; (len - logged) as usize];
        file.read_exact_at(&mut rest, logged)?;
        Ok((Spool { file, len, logged }, rest))
    }

    /// Moves what the FIFO holds (up to `max` bytes) to the end of the spool and returns
    /// those bytes; `Ok(None)` at end of stream, `WouldBlock` when the FIFO is empty.
    pub fn take_from(
        &mut self,
        fifo: &impl std::os::fd::AsFd,
        max: usize,
    ) -> io::Result<Option<Vec<u8>>> {
        use nix::fcntl::{SpliceFFlags, splice};
        let mut at = self.len as i64;
        let n = splice(
            fifo,
            None,
            &self.file,
            Some(&mut at),
            max,
            SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE,
        )
        .map_err(io::Error::from)?;
        if n == 0 {
            return Ok(None);
        }
        let mut data = vec![0u8; n];
        self.file.read_exact_at(&mut data, self.len)?;
        self.len += n as u64;
        Ok(Some(data))
    }

    /// The spool offset up to which the log holds the stream.
    pub fn logged(&self) -> u64 {
        self.logged
    }

    /// Records that the log now holds the spool up to `to`; once it holds all of a long
    /// spool, the spool is emptied and then its mark reset (a berthd killed between the two
    /// finds an empty spool, so the old mark cannot point into it).
    pub fn advance(&mut self, to: u64, marks: &mut Marks, slot: usize, log_len: u64) {
        self.logged = to;
        if self.logged == self.len && self.len >= SPOOL_RESET_LEN && self.file.set_len(0).is_ok() {
            self.len = 0;
            self.logged = 0;
            let reset = Mark {
                log_len,
                from: 0,
                to: 0,
            };
            if let Err(e) = marks.set(slot, reset) {
                tracing::warn!("log marks: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_counts_a_write_only_if_the_log_grew() {
        let m = Mark {
            log_len: 100,
            from: 10,
            to: 30,
        };
        assert_eq!(m.logged_upto(100), 10);
        assert_eq!(m.logged_upto(160), 30);
    }

    #[test]
    fn marks_round_trip_and_settle() {
        let dir = std::env::temp_dir().join(format!("berth-marks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("marks");
        let mut marks = Marks::create(&path).unwrap();
        let m = Mark {
            log_len: 7,
            from: 1,
            to: 9,
        };
        marks.set(1, m).unwrap();
        assert_eq!(Marks::resume(&path).unwrap().get(1), m);
        assert_eq!(Marks::resume(&path).unwrap().get(0), Mark::default());
        marks.settle().unwrap();
        // Settled, a mark gives the same offset whatever the log's length.
        let settled = Marks::resume(&path).unwrap().get(1);
        assert_eq!(settled.logged_upto(0), 9);
        assert_eq!(settled.logged_upto(100), 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn spool_takes_from_a_fifo_and_resumes_after_the_logged_part() {
        let dir = std::env::temp_dir().join(format!("berth-spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spool");
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, b"one\ntwo\n").unwrap();
        let mut spool = Spool::create(&path).unwrap();
        assert_eq!(
            spool.take_from(&r, 1 << 16).unwrap().as_deref(),
            Some(&b"one\ntwo\n"[..])
        );
        // The pipe is empty now: nothing is held back in it.
        let again = spool.take_from(&r, 1 << 16).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::WouldBlock);
        let (resumed, rest) = Spool::resume(&path, 4).unwrap();
        assert_eq!(rest, b"two\n");
        assert_eq!(resumed.logged(), 4);
        drop(w);
        assert_eq!(spool.take_from(&r, 1 << 16).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
