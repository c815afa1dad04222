//! Crash-safe replacement of small state files (namesrv `kvConfig.json`, the broker's
//! `topics.json`, `consumerOffset.json`, `subscriptionGroup.json`).
//!
//! Owns no state: plain functions over paths. They block on `fsync`, so callers run them on a
//! persister thread (or at start-up), never on the event loop.
//!
//! Invariants: after [`write_atomically`] returns, the file holds exactly the new bytes even
//! across a power cut; a crash at any point before that leaves the previous content intact.
//! [`write_keeping_backup`] also leaves the previous content in `<path>.bak` (as upstream's
//! `MixAll.string2File`), which [`read_with_backup`] falls back to when the file itself is
//! missing, empty or undecodable.

use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` so that a crash at any point leaves either the old or the new
/// content: write a temporary file, fsync it, rename it over, fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&directory)?;
    let temporary = with_suffix(path, ".tmp");
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)?;
    File::open(&directory)?.sync_all()
}

/// `<path>.bak`, where [`write_keeping_backup`] keeps the previous content.
pub fn backup_path(path: &Path) -> PathBuf {
    with_suffix(path, ".bak")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Copies the current content of `path` (if any) to `<path>.bak`, then replaces `path` with
/// `bytes`; both steps are atomic.
pub fn write_keeping_backup(path: &Path, bytes: &[u8]) -> io::Result<()> {
    match fs::read(path) {
        Ok(previous) if !previous.is_empty() => write_atomically(&backup_path(path), &previous)?,
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    write_atomically(path, bytes)
}

/// Where a state file's content came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    File,
    Backup,
}

/// Decodes `path`, or `<path>.bak` when `path` is missing, empty, unreadable or undecodable.
/// `Ok(None)` when neither holds anything (a first start). An error when the file exists but
/// neither it nor the backup can be decoded: starting empty would silently drop state.
pub fn read_with_backup<T, E: Display>(
    path: &Path,
    decode: impl Fn(&[u8]) -> Result<T, E>,
) -> io::Result<Option<(T, Source)>> {
    let main_problem = match read_nonempty(path) {
        Ok(None) => None,
        Ok(Some(bytes)) => match decode(&bytes) {
            Ok(value) => return Ok(Some((value, Source::File))),
            Err(error) => Some(format!("cannot decode {}: {error}", path.display())),
        },
        Err(error) => Some(format!("cannot read {}: {error}", path.display())),
    };
    if let Some(problem) = &main_problem {
        log::warn!("{problem}; trying the backup");
    }
    let backup = backup_path(path);
    match read_nonempty(&backup) {
        Ok(Some(bytes)) => match decode(&bytes) {
            Ok(value) => {
                log::warn!("loaded {} from its backup", path.display());
                Ok(Some((value, Source::Backup)))
            }
            Err(error) => Err(invalid(format!(
                "cannot decode {}: {error}",
                backup.display()
            ))),
        },
        Ok(None) => match main_problem {
            None => Ok(None),
            Some(problem) => Err(invalid(format!("{problem}, and there is no backup"))),
        },
        Err(error) => Err(error),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The file's bytes; `None` when it is missing or holds only whitespace.
fn read_nonempty(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("client-durable-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn decode_number(bytes: &[u8]) -> Result<u32, String> {
        std::str::from_utf8(bytes)
            .map_err(|e| e.to_string())?
            .trim()
            .parse()
            .map_err(|e: std::num::ParseIntError| e.to_string())
    }

    #[test]
    fn a_leftover_temporary_file_does_not_matter() {
        let dir = temp_dir("tmp");
        let path = dir.join("kvConfig.json");
        fs::write(dir.join("kvConfig.json.tmp"), "half written garb").unwrap();
        write_atomically(&path, b"{}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert!(!dir.join("kvConfig.json.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_previous_content_is_kept_as_backup() {
        let dir = temp_dir("backup");
        let path = dir.join("sub").join("state.json");
        write_keeping_backup(&path, b"1").unwrap();
        assert!(!backup_path(&path).exists());
        write_keeping_backup(&path, b"2").unwrap();
        write_keeping_backup(&path, b"3").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"3");
        assert_eq!(fs::read(backup_path(&path)).unwrap(), b"2");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reading_falls_back_to_the_backup() {
        let dir = temp_dir("read");
        let path = dir.join("state.json");
        assert_eq!(read_with_backup(&path, decode_number).unwrap(), None);
        write_keeping_backup(&path, b"7").unwrap();
        write_keeping_backup(&path, b"8").unwrap();
        assert_eq!(
            read_with_backup(&path, decode_number).unwrap(),
            Some((8, Source::File))
        );
        for broken in [&b"garbage"[..], b"", b"  \n"] {
            fs::write(&path, broken).unwrap();
            assert_eq!(
                read_with_backup(&path, decode_number).unwrap(),
                Some((7, Source::Backup))
            );
        }
        fs::remove_file(&path).unwrap();
        assert_eq!(
            read_with_backup(&path, decode_number).unwrap(),
            Some((7, Source::Backup))
        );
        fs::write(backup_path(&path), "bad").unwrap();
        let error = read_with_backup(&path, decode_number).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_undecodable_file_without_backup_is_an_error() {
        let dir = temp_dir("nobackup");
        let path = dir.join("state.json");
        fs::write(&path, "x").unwrap();
        let error = read_with_backup(&path, decode_number).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("no backup"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
