//! Snapshots: `snapshots/<name>/` holds hard links to every live part's files plus a
//! copy of the series registry and the FORMAT file, so it is itself a valid data
//! directory (open it with `Storage::open` to restore). Hard links make creation
//! cheap and keep files alive after merges delete them from the live tree.

use std::fs;
use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::fsutil::{self, io_err};
use crate::StorageError;

const SNAPSHOTS_DIR: &str = "snapshots";

impl Engine {
    fn snapshots_dir(&self) -> PathBuf {
        self.data_dir().join(SNAPSHOTS_DIR)
    }

    pub(crate) fn create_snapshot(&self) -> Result<String, StorageError> {
        self.check_open()?;
        self.flush_inner()?;
        // Merges and retention delete part directories; hold them off while linking.
        let _maintenance = self.maintenance_lock.lock();
        let name = format!(
            "{}-{:08x}",
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            self.next_part_seq()
        );
        let dest = self.snapshots_dir().join(&name);
        let tmp = self.snapshots_dir().join(format!(".tmp-{name}"));
        let result = self.link_snapshot(&tmp);
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        fsutil::sync_dir(&self.snapshots_dir())?;
        Ok(name)
    }

    fn link_snapshot(&self, tmp: &Path) -> Result<(), StorageError> {
        fsutil::create_dir_all(&tmp.join("index"))?;
        for (_, parts) in self.partitions.all() {
            for part in parts {
                let rel = part.dir.strip_prefix(self.data_dir()).map_err(|_| {
                    StorageError::Invalid(format!(
                        "part {} is outside the data directory",
                        part.dir.display()
                    ))
                })?;
                let target = tmp.join(rel);
                fsutil::create_dir_all(&target)?;
                for entry in fs::read_dir(&part.dir).map_err(io_err(&part.dir))? {
                    let entry = entry.map_err(io_err(&part.dir))?;
                    let link = target.join(entry.file_name());
                    fs::hard_link(entry.path(), &link).map_err(io_err(&link))?;
                }
            }
        }
        self.registry.copy_to(&tmp.join("index"))?;
        self.tombstones.copy_to(&tmp.join("index"))?;
        let format = self.data_dir().join("FORMAT");
        fs::copy(&format, tmp.join("FORMAT")).map_err(io_err(&format))?;
        Ok(())
    }

    pub(crate) fn list_snapshots(&self) -> Result<Vec<String>, StorageError> {
        self.check_open()?;
        let dir = self.snapshots_dir();
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            if let Some(name) = entry.file_name().to_str() {
                if !name.starts_with('.') && entry.path().is_dir() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    pub(crate) fn delete_snapshot(&self, name: &str) -> Result<(), StorageError> {
        self.check_open()?;
        let valid = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(StorageError::Invalid(format!(
                "invalid snapshot name {name:?}"
            )));
        }
        let dir = self.snapshots_dir().join(name);
        match fs::remove_dir_all(&dir) {
            Ok(()) => fsutil::sync_dir(&self.snapshots_dir()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StorageError::Invalid(format!("no snapshot named {name:?}")))
            }
            Err(e) => Err(io_err(&dir)(e)),
        }
    }
}
