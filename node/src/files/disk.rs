//! The ciphertext files under `<home>/files/`: one file per id, chunk `i`
//! at offset `i * FILE_CHUNK`. Blocking I/O; callers run it on the
//! blocking pool.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use weft_protocol::file::{file_hex, FileId, FileManifest, FILE_CHUNK};

/// Where file `id` lives under `dir`.
pub(super) fn path(dir: &Path, id: &FileId) -> PathBuf {
    dir.join(file_hex(id))
}

/// Offset of chunk `i`.
pub(super) fn offset(i: usize) -> u64 {
    i as u64 * FILE_CHUNK as u64
}

/// Reads chunk `i` (of `len` bytes); `None` if the file is shorter.
pub(super) fn read_chunk(file: &File, i: usize, len: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; len];
    match file.read_exact_at(&mut buf, offset(i)) {
        Ok(()) => Ok(Some(buf)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens (creating) the file being fetched, for writing chunks at offsets.
pub(super) fn open_for_fetch(p: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
}

/// Indexes of the chunks of `m` that `file` does not hold intact: what a
/// fetch still has to get (a resumed fetch skips everything verified).
pub(super) fn missing(file: &File, m: &FileManifest) -> std::io::Result<Vec<usize>> {
    let len = file.metadata()?.len();
    let mut out = Vec::new();
    for i in 0..m.chunks.len() {
        let want = m.chunk_len(i);
        if offset(i) + want as u64 > len {
            out.push(i);
            continue;
        }
        match read_chunk(file, i, want)? {
            Some(c) if m.check_chunk(i, &c).is_ok() => {}
            _ => out.push(i),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_finds_absent_and_corrupt_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let chunks = [vec![1u8; FILE_CHUNK], vec![2u8; FILE_CHUNK], vec![3u8; 10]];
        let m = FileManifest {
            size: chunks.iter().map(|c| c.len() as u64).sum(),
            chunks: chunks.iter().map(|c| *blake3::hash(c).as_bytes()).collect(),
        };
        let p = path(dir.path(), &m.id());
        let f = open_for_fetch(&p).unwrap();
        assert_eq!(missing(&f, &m).unwrap(), vec![0, 1, 2]);
        f.write_all_at(&chunks[0], offset(0)).unwrap();
        f.write_all_at(&chunks[2], offset(2)).unwrap();
        assert_eq!(missing(&f, &m).unwrap(), vec![1]);
        let mut bad = chunks[2].clone();
        bad[0] = 9;
        f.write_all_at(&bad, offset(2)).unwrap();
        assert_eq!(missing(&f, &m).unwrap(), vec![1, 2]);
    }
}
