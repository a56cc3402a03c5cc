//! Reading a configuration file without ever blocking on anything but a regular file's bytes.
//!
//! Whatever sits at the path is looked at before it is opened: a FIFO, a socket, a device or a
//! directory is refused at once (opening a FIFO for reading waits for a writer; reading a
//! device may never end). The path is then opened non-blocking, without becoming the
//! controlling terminal, and the opened file is looked at again, so that something renamed
//! into place between the two looks is refused too. Only then are its bytes read, at most the
//! size limit plus one.
//!
//! A failure carries the file's [`FileState`] where there is one, so that the reload pipeline
//! can report the same failure once until something about the file changes.

use std::fs::{File, Metadata};
use std::io::{ErrorKind, Read as _};
use std::path::Path;
use std::time::Duration;

/// What can be known of a file without reading it: which file it is and its last change.
/// Two equal states are the same file, unchanged (as far as the file system tells).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileState {
    dev: u64,
    ino: u64,
    mode: u32,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileState {
    /// The state of a file from its metadata. For what is not a regular file only its identity
    /// and mode count: a directory's times change with every entry added inside it, which
    /// does not make it any more a configuration file.
    #[cfg(unix)]
    fn of(meta: &Metadata) -> FileState {
        use std::os::unix::fs::MetadataExt as _;
        let regular = meta.is_file();
        FileState {
            dev: meta.dev(),
            ino: meta.ino(),
            mode: meta.mode(),
            len: if regular { meta.len() } else { 0 },
            mtime: if regular {
                (meta.mtime(), meta.mtime_nsec())
            } else {
                (0, 0)
            },
            ctime: if regular {
                (meta.ctime(), meta.ctime_nsec())
            } else {
                (0, 0)
            },
        }
    }

    #[cfg(not(unix))]
    fn of(meta: &Metadata) -> FileState {
        let since_epoch = |t: std::io::Result<std::time::SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or((0, 0), |d| {
                    (d.as_secs() as i64, i64::from(d.subsec_nanos()))
                })
        };
        let regular = meta.is_file();
        FileState {
            dev: 0,
            ino: 0,
            mode: u32::from(meta.is_dir()) | u32::from(meta.permissions().readonly()) << 1,
            len: if regular { meta.len() } else { 0 },
            mtime: if regular {
                since_epoch(meta.modified())
            } else {
                (0, 0)
            },
            ctime: (0, 0),
        }
    }
}

/// Why a file could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Nothing is at the path.
    Missing,
    /// The content changed between every two reads: it is being written; read it again once
    /// the writer is done (not a failure of the file).
    Unsettled,
    /// Something is there and cannot be used: `message` says why, `state` is what was there
    /// (absent when not even its metadata could be read).
    Failed {
        state: Option<FileState>,
        message: String,
    },
}

impl ReadError {
    fn failed(state: Option<FileState>, message: impl Into<String>) -> ReadError {
        ReadError::Failed {
            state,
            message: message.into(),
        }
    }
}

/// What kind of thing a non-regular file is, for messages.
fn kind(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
    }
    "not a regular file"
}

fn not_regular(meta: &Metadata) -> ReadError {
    ReadError::failed(
        Some(FileState::of(meta)),
        format!(
            "not a regular file: the path is {}; a configuration must be a regular file",
            kind(meta)
        ),
    )
}

/// Opens a path for reading without blocking: `O_NONBLOCK` makes opening a FIFO return at
/// once (it would otherwise wait for a writer), `O_NOCTTY` keeps a terminal device from
/// becoming the process's controlling terminal. Neither changes how a regular file is read.
pub(crate) fn open_nonblocking(
    path: &Path,
    options: &mut std::fs::OpenOptions,
) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// Reads the regular file at `path`, at most `limit` bytes; anything else at the path is
/// refused without being read.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) => return Err(ReadError::failed(None, format!("cannot read: {e}"))),
    };
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let state = FileState::of(&meta);
    if meta.len() > limit {
        return Err(too_large(state, limit));
    }
    let file = match open_nonblocking(path, std::fs::OpenOptions::new().read(true)) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) => return Err(ReadError::failed(Some(state), format!("cannot read: {e}"))),
    };
    // Replaced between the look and the open: look at what was opened.
    let meta = file
        .metadata()
        .map_err(|e| ReadError::failed(Some(state), format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let state = FileState::of(&meta);
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::failed(Some(state), format!("cannot read: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(state, limit));
    }
    Ok(bytes)
}

fn too_large(state: FileState, limit: u64) -> ReadError {
    ReadError::failed(
        Some(state),
        format!("the file is larger than the limit of {limit} bytes"),
    )
}

/// Reads the file until two reads in a row agree, so that a file being written while it is
/// read is read again rather than published half-written (the backstop where the watcher
/// cannot tell that a writer still has the file open).
pub(crate) fn read_stable(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut previous = read_regular(path, limit)?;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(2));
        let again = read_regular(path, limit)?;
        if again == previous {
            return Ok(again);
        }
        previous = again;
    }
    Err(ReadError::Unsettled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_refused_with_its_state() {
        let dir = tempfile::tempdir().unwrap();
        match read_regular(dir.path(), 1024) {
            Err(ReadError::Failed {
                state: Some(_),
                message,
            }) => assert!(message.contains("a directory"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_over_the_limit_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        std::fs::write(&path, vec![b'#'; 2048]).unwrap();
        match read_regular(&path, 1024) {
            Err(ReadError::Failed { message, .. }) => {
                assert!(message.contains("larger than the limit"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read_regular(&path, 4096).unwrap().len(), 2048);
    }

    #[test]
    fn the_state_changes_with_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "a").unwrap();
        let first = FileState::of(&std::fs::metadata(&path).unwrap());
        assert_eq!(first, FileState::of(&std::fs::metadata(&path).unwrap()));
        std::fs::write(&path, "bb").unwrap();
        assert_ne!(first, FileState::of(&std::fs::metadata(&path).unwrap()));
    }
}
