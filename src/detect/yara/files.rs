//! Files for YARA: hashes, a magic type, the externals, and directory walks.

use std::path::{Path, PathBuf};

use md5::Md5;
use sha1::Sha1;
use sha2::Sha256;

use super::Externals;

/// Hashes of a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashes {
    pub md5: String,
    pub sha1: String,
    pub sha256: [u8; 32],
}

impl Hashes {
    pub fn of(data: &[u8]) -> Hashes {
        Hashes {
            md5: hex::encode(<Md5 as md5::Digest>::digest(data)),
            sha1: hex::encode(<Sha1 as sha1::Digest>::digest(data)),
            sha256: <Sha256 as sha2::Digest>::digest(data).into(),
        }
    }

    /// Only the SHA-256 (the cache key), when MD5/SHA-1 are not needed.
    pub fn sha256_only(data: &[u8]) -> Hashes {
        Hashes {
            md5: String::new(),
            sha1: String::new(),
            sha256: <Sha256 as sha2::Digest>::digest(data).into(),
        }
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// A short description of the content, from its first bytes (what rule
/// sets call `filetype`).
pub fn magic(data: &[u8]) -> &'static str {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"MZ") {
        "PE32 executable"
    } else if starts(b"\x7fELF") {
        "ELF executable"
    } else if starts(b"%PDF") {
        "PDF document"
    } else if starts(b"PK\x03\x04") {
        if memchr::memmem::find(data, b"vbaProject.bin").is_some() {
            "Office Open XML document with macros"
        } else if memchr::memmem::find(data, b"[Content_Types].xml").is_some() {
            "Office Open XML document"
        } else {
            "Zip archive"
        }
    } else if starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        "Composite Document File V2 (OLE)"
    } else if starts(b"\x1f\x8b") {
        "gzip compressed data"
    } else if starts(b"\x89PNG") {
        "PNG image"
    } else if starts(b"\xff\xd8\xff") {
        "JPEG image"
    } else if starts(b"GIF8") {
        "GIF image"
    } else if starts(b"Rar!") {
        "RAR archive"
    } else if starts(b"7z\xbc\xaf") {
        "7-zip archive"
    } else if starts(b"<?php") || memchr::memmem::find(data, b"<?php").is_some() {
        "PHP script"
    } else if starts(b"#!") {
        "script"
    } else if data
        .iter()
        .take(512)
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace() || *b >= 0x80)
    {
        "text"
    } else {
        "data"
    }
}

/// Reads a file of at most `max` bytes; `Ok(None)` when it is larger (a
/// file that grows while being read is cut at `max + 1` and refused too).
///
/// # Errors
/// The file cannot be opened or read.
pub fn read_limited(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Ok(None);
    }
    let mut data = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut data)?;
    Ok((data.len() as u64 <= max).then_some(data))
}

/// The externals of a file on disk.
pub fn externals_for(path: &Path, data: &[u8]) -> Externals {
    Externals {
        filename: path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        filepath: path
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        extension: path
            .extension()
            .map(|s| s.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default(),
        filetype: magic(data).to_string(),
        owner: owner_of(path),
    }
}

/// User names by uid, read once from /etc/passwd.
fn users() -> &'static std::collections::HashMap<u32, String> {
    static USERS: std::sync::OnceLock<std::collections::HashMap<u32, String>> =
        std::sync::OnceLock::new();
    USERS.get_or_init(|| {
        let mut m = std::collections::HashMap::new();
        if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
            for line in passwd.lines() {
                let mut f = line.split(':');
                if let (Some(name), _, Some(id)) = (f.next(), f.next(), f.next())
                    && let Ok(uid) = id.parse::<u32>()
                {
                    m.entry(uid).or_insert_with(|| name.to_string());
                }
            }
        }
        m
    })
}

/// The owner's user name (from /etc/passwd), or the uid.
fn owner_of(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return String::new();
    };
    let uid = meta.uid();
    users()
        .get(&uid)
        .cloned()
        .unwrap_or_else(|| uid.to_string())
}

/// Regular files under `roots` (directories walked recursively, symbolic
/// links not followed), in a stable order; unreadable entries are
/// reported, not fatal.
pub fn walk(roots: &[PathBuf], files: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    for root in roots {
        match std::fs::symlink_metadata(root) {
            Ok(m) if m.is_file() => files.push(root.clone()),
            Ok(m) if m.is_dir() => {
                let mut stack = vec![root.clone()];
                while let Some(dir) = stack.pop() {
                    let entries = match std::fs::read_dir(&dir) {
                        Ok(e) => e,
                        Err(e) => {
                            errors.push(format!("{}: {e}", dir.display()));
                            continue;
                        }
                    };
                    let mut here: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                    here.sort();
                    for p in here.into_iter().rev() {
                        match std::fs::symlink_metadata(&p) {
                            Ok(m) if m.is_dir() => stack.push(p),
                            Ok(m) if m.is_file() => files.push(p),
                            Ok(_) => {}
                            Err(e) => errors.push(format!("{}: {e}", p.display())),
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) => errors.push(format!("{}: {e}", root.display())),
        }
    }
    files.sort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_and_hashes() {
        assert_eq!(magic(b"MZ\x90\x00"), "PE32 executable");
        assert_eq!(magic(b"<?php echo 1; ?>"), "PHP script");
        assert_eq!(magic(b"hello\n"), "text");
        assert_eq!(magic(&[0u8, 1, 2, 3]), "data");
        let h = Hashes::of(b"abc");
        assert_eq!(h.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            h.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn walk_lists_files_recursively_in_order() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/b/z.txt"), "z").unwrap();
        std::fs::write(d.path().join("a/y.txt"), "y").unwrap();
        let mut files = Vec::new();
        let mut errors = Vec::new();
        walk(
            &[d.path().to_path_buf(), d.path().join("missing")],
            &mut files,
            &mut errors,
        );
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("a/b/z.txt"));
        assert_eq!(errors.len(), 1);
        let e = externals_for(&files[1], b"y");
        assert_eq!(e.filename, "y.txt");
        assert_eq!(e.extension, "txt");
        assert_eq!(e.filetype, "text");
    }
}
