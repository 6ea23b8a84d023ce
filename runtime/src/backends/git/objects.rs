//! Reading a git checkout from its files, without starting git: refs
//! (loose and packed), the remote's URL from `config`, and objects (loose,
//! and in packs, deltas included) so far as a runbook asks about them:
//! which commit a ref names, whether one commit is an ancestor of another,
//! and what a file held at a commit. Starting a process is a change (it
//! needs the gate's permit); these questions are reads, so they are
//! answered from the files. Read only: nothing here writes.
//!
//! Repositories in the reftable format or with SHA-256 object names are
//! refused as such rather than misread.

use std::collections::{HashSet, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::Error;

/// How many commits an ancestry question walks at most: far more than any
/// window's history between a branch and what Argo CD deploys.
const WALK_LIMIT: usize = 200_000;
/// How deep a chain of deltas in a pack may go.
const DELTA_DEPTH: usize = 64;
/// The largest object read (values files and commits are small).
const OBJECT_LIMIT: usize = 64 << 20;

/// A checkout's git directory, as found from its working tree.
#[derive(Debug, Clone)]
pub(crate) struct GitDir {
    /// The working tree, as given.
    pub(crate) work: PathBuf,
    /// `.git` (or where a `.git` file points).
    git: PathBuf,
    /// Where refs and objects are (a linked worktree's main `.git`).
    common: PathBuf,
}

/// A git object: its type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    pub(crate) kind: Kind,
    pub(crate) data: Vec<u8>,
}

/// The object types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Commit,
    Tree,
    Blob,
    Tag,
}

fn corrupt(path: &Path, what: impl Into<String>) -> Error {
    Error::Corrupt { path: path.display().to_string(), what: what.into() }
}

fn io(path: &Path, reason: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), reason }
}

/// An object name in hex, if `text` is one (40 hex digits).
pub(crate) fn is_id(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(id: &str) -> Option<[u8; 20]> {
    if !is_id(id) {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(id.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl GitDir {
    /// The git directory of the checkout at `work`.
    pub(crate) fn find(work: &Path) -> Result<Self, Error> {
        let dot = work.join(".git");
        let not_repo = || Error::NotARepo { path: work.display().to_string() };
        let git = if dot.is_dir() {
            dot
        } else if dot.is_file() {
            let text = std::fs::read_to_string(&dot).map_err(|e| io(&dot, e))?;
            let target = text.trim().strip_prefix("gitdir:").ok_or_else(not_repo)?.trim();
            let target = Path::new(target);
            if target.is_absolute() {
                target.to_path_buf()
            } else {
                work.join(target)
            }
        } else {
            return Err(not_repo());
        };
        if !git.join("HEAD").is_file() {
            return Err(not_repo());
        }
        let common = match std::fs::read_to_string(git.join("commondir")) {
            Ok(text) => {
                let c = Path::new(text.trim());
                if c.is_absolute() {
                    c.to_path_buf()
                } else {
                    git.join(c)
                }
            }
            Err(_) => git.clone(),
        };
        let dir = Self { work: work.to_path_buf(), git, common };
        dir.check_format()?;
        Ok(dir)
    }

    fn check_format(&self) -> Result<(), Error> {
        let unsupported = |what: &str| Error::Unsupported { path: self.work.display().to_string(), what: what.into() };
        if self.common.join("reftable").is_dir() {
            return Err(unsupported("its refs are in the reftable format"));
        }
        let config = self.config()?;
        if let Some(format) = config_value(&config, "extensions", None, "objectformat") {
            if !format.eq_ignore_ascii_case("sha1") {
                return Err(unsupported(&format!("its objects are named by {format}")));
            }
        }
        Ok(())
    }

    fn config(&self) -> Result<String, Error> {
        let path = self.common.join("config");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// `remote.<name>.url`.
    pub(crate) fn remote_url(&self, remote: &str) -> Result<Option<String>, Error> {
        Ok(config_value(&self.config()?, "remote", Some(remote), "url"))
    }

    /// What `HEAD` is: the branch it names (`None`: detached) and the
    /// commit (`None`: a branch with no commit yet).
    pub(crate) fn head(&self) -> Result<(Option<String>, Option<String>), Error> {
        let path = self.git.join("HEAD");
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let text = text.trim();
        if let Some(name) = text.strip_prefix("ref:") {
            let name = name.trim();
            let branch = name.strip_prefix("refs/heads/").map(String::from);
            return Ok((branch, self.read_ref(name)?));
        }
        if is_id(text) {
            return Ok((None, Some(text.to_ascii_lowercase())));
        }
        Err(corrupt(&path, "HEAD is neither a ref nor a commit"))
    }

    /// The commit a full ref name (`refs/heads/main`) points at.
    fn read_ref(&self, name: &str) -> Result<Option<String>, Error> {
        let mut current = name.to_string();
        for _ in 0..10 {
            let loose = self.common.join(&current);
            let text = match std::fs::read_to_string(&loose) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.packed_ref(&current),
                // A folder by that name (refs/heads/hubops) is not this ref.
                Err(_) if loose.is_dir() => return self.packed_ref(&current),
                Err(e) => return Err(io(&loose, e)),
            };
            let text = text.trim();
            if let Some(next) = text.strip_prefix("ref:") {
                current = next.trim().to_string();
                continue;
            }
            return if is_id(text) { Ok(Some(text.to_ascii_lowercase())) } else { Err(corrupt(&loose, "not a ref")) };
        }
        Err(corrupt(&self.common, format!("`{name}` is a chain of symbolic refs that does not end")))
    }

    fn packed_ref(&self, name: &str) -> Result<Option<String>, Error> {
        let path = self.common.join("packed-refs");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, e)),
        };
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('^'))
            .filter_map(|l| l.split_once(' '))
            .find(|(_, r)| *r == name)
            .map(|(id, _)| id.to_ascii_lowercase()))
    }

    /// The commit `revision` names: a full id, a branch (`main`), a
    /// remote-tracking branch (`origin/main`), a tag or a full ref name.
    pub(crate) fn resolve(&self, revision: &str) -> Result<Option<String>, Error> {
        if is_id(revision) {
            let id = revision.to_ascii_lowercase();
            return Ok(self.has(&id)?.then_some(id));
        }
        if revision == "HEAD" {
            return Ok(self.head()?.1);
        }
        for candidate in [
            revision.to_string(),
            format!("refs/{revision}"),
            format!("refs/tags/{revision}"),
            format!("refs/heads/{revision}"),
            format!("refs/remotes/{revision}"),
        ] {
            if candidate.starts_with("refs/") {
                if let Some(id) = self.read_ref(&candidate)? {
                    return Ok(Some(self.peel(&id)?));
                }
            }
        }
        Ok(None)
    }

    /// An annotated tag's commit; a commit itself.
    fn peel(&self, id: &str) -> Result<String, Error> {
        let mut id = id.to_string();
        for _ in 0..10 {
            match self.object(&id)? {
                Some(Object { kind: Kind::Tag, data }) => {
                    let text = String::from_utf8_lossy(&data);
                    let Some(target) = text.lines().find_map(|l| l.strip_prefix("object ")) else { return Ok(id) };
                    id = target.trim().to_string();
                }
                _ => return Ok(id),
            }
        }
        Ok(id)
    }

    /// Whether the object is in the repository.
    pub(crate) fn has(&self, id: &str) -> Result<bool, Error> {
        Ok(self.object(id)?.is_some())
    }

    /// The parents of commit `id`; `None` when the repository does not have it.
    pub(crate) fn parents(&self, id: &str) -> Result<Option<Vec<String>>, Error> {
        let Some(object) = self.object(id)? else { return Ok(None) };
        if object.kind != Kind::Commit {
            return Err(corrupt(&self.common, format!("`{id}` is not a commit")));
        }
        let text = String::from_utf8_lossy(&object.data);
        Ok(Some(
            text.lines()
                .take_while(|l| !l.is_empty())
                .filter_map(|l| l.strip_prefix("parent "))
                .map(|p| p.trim().to_string())
                .collect(),
        ))
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors; `None`
    /// when the repository does not have `descendant` (not fetched yet).
    pub(crate) fn contains(&self, ancestor: &str, descendant: &str) -> Result<Option<bool>, Error> {
        if self.parents(descendant)?.is_none() {
            return Ok(None);
        }
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([descendant.to_string()]);
        while let Some(id) = queue.pop_front() {
            if id == ancestor {
                return Ok(Some(true));
            }
            if !seen.insert(id.clone()) || seen.len() > WALK_LIMIT {
                continue;
            }
            // A shallow clone's boundary has no parents here.
            queue.extend(self.parents(&id)?.unwrap_or_default());
        }
        Ok(Some(false))
    }

    /// The bytes of `path` (relative to the repository's root, `/`
    /// separated) at commit `id`; `None` when it has no such file.
    pub(crate) fn file_at(&self, id: &str, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let Some(commit) = self.object(id)? else { return Ok(None) };
        let text = String::from_utf8_lossy(&commit.data);
        let Some(mut tree) = text.lines().find_map(|l| l.strip_prefix("tree ")).map(|t| t.trim().to_string()) else {
            return Err(corrupt(&self.common, format!("commit `{id}` has no tree")));
        };
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let Some(object) = self.object(&tree)? else { return Ok(None) };
            let Some((mode, entry)) = tree_entry(&object.data, part) else { return Ok(None) };
            if i + 1 == parts.len() {
                if mode.starts_with(b"4") {
                    return Ok(None);
                }
                return Ok(self.object(&entry)?.map(|o| o.data));
            }
            tree = entry;
        }
        Ok(None)
    }

    /// Whether `path` (a file or a folder) is in the tree of commit `id`.
    pub(crate) fn tracked(&self, id: &str, path: &str) -> Result<bool, Error> {
        let Some(commit) = self.object(id)? else { return Ok(false) };
        let text = String::from_utf8_lossy(&commit.data);
        let Some(mut tree) = text.lines().find_map(|l| l.strip_prefix("tree ")).map(|t| t.trim().to_string()) else {
            return Ok(false);
        };
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let Some(object) = self.object(&tree)? else { return Ok(false) };
            let Some((_, entry)) = tree_entry(&object.data, part) else { return Ok(false) };
            tree = entry;
        }
        Ok(true)
    }

    /// An object by id: loose, or in a pack (of this repository or an
    /// alternate); `None` when none has it.
    pub(crate) fn object(&self, id: &str) -> Result<Option<Object>, Error> {
        let Some(raw) = unhex(id) else { return Ok(None) };
        for objects in self.object_dirs() {
            if let Some(object) = loose(&objects, id)? {
                return Ok(Some(object));
            }
            for pack in packs(&objects)? {
                if let Some(offset) = pack.find(&raw)? {
                    return pack.read(offset, self, 0).map(Some);
                }
            }
        }
        Ok(None)
    }

    fn object_dirs(&self) -> Vec<PathBuf> {
        let objects = self.common.join("objects");
        let mut dirs = vec![objects.clone()];
        let alternates = objects.join("info/alternates");
        if let Ok(text) = std::fs::read_to_string(&alternates) {
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                let p = Path::new(line);
                dirs.push(if p.is_absolute() { p.to_path_buf() } else { objects.join(p) });
            }
        }
        dirs
    }
}

/// `key` of `[section "sub"]` in a git config (the last one wins, as git reads it).
fn config_value(text: &str, section: &str, sub: Option<&str>, key: &str) -> Option<String> {
    let mut here = false;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split_once(']')).map(|(h, _)| h) {
            let (name, subsection) = match header.split_once(' ') {
                Some((n, s)) => (n, Some(s.trim().trim_matches('"'))),
                None => (header, None),
            };
            here = name.eq_ignore_ascii_case(section) && subsection == sub;
            continue;
        }
        if !here || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim().eq_ignore_ascii_case(key) {
                found = Some(v.trim().trim_matches('"').to_string());
            }
        }
    }
    found
}

/// The entry `name` of a tree object: its mode and id.
fn tree_entry(data: &[u8], name: &str) -> Option<(Vec<u8>, String)> {
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let nul = rest.iter().position(|&b| b == 0)?;
        let id = rest.get(nul + 1..nul + 21)?;
        if rest.get(space + 1..nul)? == name.as_bytes() {
            return Some((rest[..space].to_vec(), hex(id)));
        }
        rest = rest.get(nul + 21..)?;
    }
    None
}

fn inflate(reader: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(reader).take(limit as u64 + 1).read_to_end(&mut out)?;
    Ok(out)
}

fn kind_of(name: &[u8]) -> Option<Kind> {
    match name {
        b"commit" => Some(Kind::Commit),
        b"tree" => Some(Kind::Tree),
        b"blob" => Some(Kind::Blob),
        b"tag" => Some(Kind::Tag),
        _ => None,
    }
}

fn loose(objects: &Path, id: &str) -> Result<Option<Object>, Error> {
    let path = objects.join(&id[..2]).join(&id[2..]);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path, e)),
    };
    let bytes = inflate(file, OBJECT_LIMIT).map_err(|e| io(&path, e))?;
    let nul = bytes.iter().position(|&b| b == 0).ok_or_else(|| corrupt(&path, "no object header"))?;
    let header = &bytes[..nul];
    let kind = header.split(|&b| b == b' ').next().and_then(kind_of).ok_or_else(|| corrupt(&path, "unknown type"))?;
    Ok(Some(Object { kind, data: bytes[nul + 1..].to_vec() }))
}

/// One pack and its index.
struct Pack {
    pack: PathBuf,
    index: Vec<u8>,
}

fn packs(objects: &Path) -> Result<Vec<Pack>, Error> {
    let dir = objects.join("pack");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "idx") {
            let index = std::fs::read(&path).map_err(|e| io(&path, e))?;
            out.push(Pack { pack: path.with_extension("pack"), index });
        }
    }
    out.sort_by(|a, b| a.pack.cmp(&b.pack));
    Ok(out)
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl Pack {
    /// The offset of object `raw` in the pack (index version 2).
    fn find(&self, raw: &[u8; 20]) -> Result<Option<u64>, Error> {
        let idx = &self.index;
        let bad = || corrupt(&self.pack, "unreadable pack index");
        if idx.get(..4) != Some(b"\xfftOc") || be32(idx, 4) != Some(2) {
            return Err(corrupt(&self.pack, "pack index is not version 2"));
        }
        let fanout = |i: usize| be32(idx, 8 + 4 * i).map(|n| n as usize);
        let total = fanout(255).ok_or_else(bad)?;
        let first = usize::from(raw[0]);
        let low = if first == 0 { 0 } else { fanout(first - 1).ok_or_else(bad)? };
        let high = fanout(first).ok_or_else(bad)?;
        let names = 8 + 256 * 4;
        let (mut lo, mut hi) = (low, high);
        while lo < hi {
            let mid = usize::midpoint(lo, hi);
            let name = idx.get(names + 20 * mid..names + 20 * mid + 20).ok_or_else(bad)?;
            match name.cmp(raw.as_slice()) {
                std::cmp::Ordering::Equal => {
                    let offsets = names + 20 * total + 4 * total;
                    let small = be32(idx, offsets + 4 * mid).ok_or_else(bad)?;
                    if small & 0x8000_0000 == 0 {
                        return Ok(Some(u64::from(small)));
                    }
                    let large = offsets + 4 * total + 8 * (small & 0x7fff_ffff) as usize;
                    let b = idx.get(large..large + 8).ok_or_else(bad)?;
                    return Ok(Some(u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])));
                }
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    /// The object at `offset`, deltas applied.
    fn read(&self, offset: u64, repo: &GitDir, depth: usize) -> Result<Object, Error> {
        if depth > DELTA_DEPTH {
            return Err(corrupt(&self.pack, "delta chain too deep"));
        }
        let mut file = std::fs::File::open(&self.pack).map_err(|e| io(&self.pack, e))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| io(&self.pack, e))?;
        let mut reader = std::io::BufReader::new(file);
        let mut byte = [0u8; 1];
        let mut next = |r: &mut std::io::BufReader<std::fs::File>| -> Result<u8, Error> {
            r.read_exact(&mut byte).map_err(|e| io(&self.pack, e))?;
            Ok(byte[0])
        };
        let mut b = next(&mut reader)?;
        let type_code = (b >> 4) & 7;
        let mut size = u64::from(b & 0x0f);
        let mut shift = 4;
        while b & 0x80 != 0 {
            b = next(&mut reader)?;
            size |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
        }
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > OBJECT_LIMIT {
            return Err(corrupt(&self.pack, "object too large"));
        }
        let base = match type_code {
            6 => {
                let mut b = next(&mut reader)?;
                let mut back = u64::from(b & 0x7f);
                while b & 0x80 != 0 {
                    b = next(&mut reader)?;
                    back = ((back + 1) << 7) | u64::from(b & 0x7f);
                }
                let at = offset.checked_sub(back).ok_or_else(|| corrupt(&self.pack, "bad delta offset"))?;
                Some(self.read(at, repo, depth + 1)?)
            }
            7 => {
                let mut raw = [0u8; 20];
                reader.read_exact(&mut raw).map_err(|e| io(&self.pack, e))?;
                let base = repo.object(&hex(&raw))?.ok_or_else(|| corrupt(&self.pack, "delta base missing"))?;
                Some(base)
            }
            _ => None,
        };
        let data = inflate(reader, size).map_err(|e| io(&self.pack, e))?;
        if let Some(base) = base {
            let data = apply_delta(&base.data, &data).ok_or_else(|| corrupt(&self.pack, "bad delta"))?;
            return Ok(Object { kind: base.kind, data });
        }
        let kind = match type_code {
            1 => Kind::Commit,
            2 => Kind::Tree,
            3 => Kind::Blob,
            4 => Kind::Tag,
            _ => return Err(corrupt(&self.pack, "unknown object type")),
        };
        Ok(Object { kind, data })
    }
}

/// A delta's 7-bit little-endian size.
fn delta_size(delta: &[u8], at: &mut usize) -> Option<usize> {
    let (mut size, mut shift) = (0usize, 0u32);
    loop {
        let b = *delta.get(*at)?;
        *at += 1;
        size |= usize::from(b & 0x7f).checked_shl(shift)?;
        shift += 7;
        if b & 0x80 == 0 {
            return Some(size);
        }
    }
}

fn apply_delta(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    if delta_size(delta, &mut at)? != base.len() {
        return None;
    }
    let size = delta_size(delta, &mut at)?;
    if size > OBJECT_LIMIT {
        return None;
    }
    let mut out = Vec::with_capacity(size);
    while at < delta.len() {
        let cmd = delta[at];
        at += 1;
        if cmd & 0x80 != 0 {
            let mut offset = 0usize;
            let mut len = 0usize;
            for i in 0..4 {
                if cmd & (1 << i) != 0 {
                    offset |= usize::from(*delta.get(at)?) << (8 * i);
                    at += 1;
                }
            }
            for i in 0..3 {
                if cmd & (0x10 << i) != 0 {
                    len |= usize::from(*delta.get(at)?) << (8 * i);
                    at += 1;
                }
            }
            if len == 0 {
                len = 0x10000;
            }
            out.extend_from_slice(base.get(offset..offset.checked_add(len)?)?);
        } else if cmd != 0 {
            let n = usize::from(cmd);
            out.extend_from_slice(delta.get(at..at + n)?);
            at += n;
        } else {
            return None;
        }
    }
    (out.len() == size).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_and_deltas() {
        let config = "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://github.com/lsst-sqre/phalanx.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[extensions]\n\tobjectFormat = sha1\n";
        assert_eq!(
            config_value(config, "remote", Some("origin"), "url").as_deref(),
            Some("https://github.com/lsst-sqre/phalanx.git")
        );
        assert_eq!(config_value(config, "remote", Some("upstream"), "url"), None);
        assert_eq!(config_value(config, "extensions", None, "objectformat").as_deref(), Some("sha1"));
        // base "hello world", delta: sizes 11 -> 11, copy 6 bytes from 0, insert "there"
        let delta = [11, 11, 0x80 | 0x01 | 0x10, 0, 6, 5, b't', b'h', b'e', b'r', b'e'];
        assert_eq!(apply_delta(b"hello world", &delta).as_deref(), Some(b"hello there".as_slice()));
        assert_eq!(apply_delta(b"short", &delta), None, "a base of the wrong size");
        assert_eq!(apply_delta(b"hello world", &[11, 11, 0]), None, "reserved instruction");
        assert!(is_id("4f2c1a9e7b3d5c6f8a0b1c2d3e4f5a6b7c8d9e0f"));
        assert!(!is_id("4f2c1a9"));
    }
}
