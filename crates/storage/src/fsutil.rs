//! Small filesystem helpers: error mapping, durable directory changes, checksummed files.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StorageError;

/// Attaches the path to an I/O error so every failure names the file involved.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn corrupt(file: &Path, offset: u64, reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        file: file.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

/// fsyncs a directory so that renames and creations inside it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

pub(crate) fn create_dir_all(dir: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(dir).map_err(io_err(dir))
}

/// Writes `data` followed by its CRC32 to `path` atomically: temp file, fsync, rename, fsync parent.
pub(crate) fn write_checksummed_atomic(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let tmp = tmp_sibling(path);
    {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(data).map_err(io_err(&tmp))?;
        f.write_all(&crc32fast::hash(data).to_le_bytes())
            .map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Reads a file written by [`write_checksummed_atomic`], verifying its trailing CRC32.
pub(crate) fn read_checksummed(path: &Path) -> Result<Vec<u8>, StorageError> {
    let mut data = fs::read(path).map_err(io_err(path))?;
    if data.len() < 4 {
        return Err(corrupt(path, 0, "file shorter than its checksum"));
    }
    let body_len = data.len() - 4;
    let stored = u32::from_le_bytes(data[body_len..].try_into().expect("4 bytes"));
    data.truncate(body_len);
    if crc32fast::hash(&data) != stored {
        return Err(corrupt(path, body_len as u64, "checksum mismatch"));
    }
    Ok(data)
}

fn tmp_sibling(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Free bytes available to this process on the filesystem holding `path`.
pub(crate) fn available_space(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        return None;
    }
    Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// An exclusive advisory lock on `<dir>/LOCK`, held for the lifetime of the value, so
/// that two processes never open the same data directory.
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, StorageError> {
        use std::os::unix::io::AsRawFd;
        let path = dir.join("LOCK");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(StorageError::Invalid(format!(
                "data directory {} is already in use by another process",
                dir.display()
            )));
        }
        Ok(DirLock { _file: file })
    }
}
