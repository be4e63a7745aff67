//! The build context: the client's tar unpacked into a scratch directory, `.dockerignore`,
//! and the files a `COPY`/`ADD` takes from it, as a tar to unpack into the image.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::StepCtx;
use super::dockerfile::{self, Args, Instruction};
use crate::{Error, Result};

/// Unpacks the context (a tar: plain, gzip, bzip2 or xz) into `dir`; entries that would land
/// outside it are skipped by the tar reader.
pub fn unpack(reader: impl Read, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut r = std::io::BufReader::new(reader);
    let head = r.fill_buf()?.to_vec();
    let bad = |e: std::io::Error| Error::invalid(format!("error reading the build context: {e}"));
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(r));
        a.set_preserve_permissions(true);
        a.unpack(dir).map_err(bad)
    } else if head.starts_with(b"BZh") {
        let mut a = tar::Archive::new(bzip2_rs::DecoderReader::new(r));
        a.set_preserve_permissions(true);
        a.unpack(dir).map_err(bad)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        // The xz decoder writes rather than reads: the tar goes through a scratch file.
        let plain = dir.with_extension("tar");
        let result = (|| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&plain)?);
            lzma_rs::xz_decompress(&mut r, &mut out).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("xz: {e:?}"))
            })?;
            drop(out);
            let mut a = tar::Archive::new(std::fs::File::open(&plain)?);
            a.set_preserve_permissions(true);
            a.unpack(dir)
        })();
        let _ = std::fs::remove_file(&plain);
        result.map_err(bad)
    } else if head.is_empty() {
        Ok(())
    } else {
        let mut a = tar::Archive::new(r);
        a.set_preserve_permissions(true);
        a.unpack(dir).map_err(bad)
    }
}

/// A `remote` build context: a tar (or gzipped tar) served over HTTP by this very host.
/// Anything else is refused: berthd reaches no host outside this machine, and git
/// contexts are not supported.
pub async fn fetch_remote(url: &str) -> Result<Vec<u8>> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        Error::invalid(format!(
            "remote context {url}: only http:// URLs on this host are supported by berthd"
        ))
    })?;
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !local {
        return Err(Error::invalid(format!(
            "remote context {url}: only contexts served by this host (localhost, 127.0.0.1, ::1) are allowed"
        )));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| Error::internal(format!("http client: {e}")))?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| Error::invalid(format!("error downloading remote context {url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(Error::invalid(format!(
            "error downloading remote context {url}: {}",
            resp.status()
        )));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::invalid(format!("error downloading remote context {url}: {e}")))?;
    Ok(bytes.to_vec())
}

/// `rel` inside the context, or None when it climbs out of it (`../x`). Symlinks in the
/// context (which the client made) are followed inside the context only, as moby's
/// `FollowSymlinkInScope` does: `h -> /` then `h/etc/shadow` is the context's `etc/shadow`,
/// never the host's.
pub fn inside(ctx: &Path, rel: &str) -> Option<PathBuf> {
    let mut depth: usize = 0;
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => depth = depth.checked_sub(1)?,
            _ => depth += 1,
        }
    }
    let root = crate::confined::Confined::open(ctx).ok()?;
    let comps = root.resolve(rel, true).ok()?;
    Some(comps.iter().fold(ctx.to_path_buf(), |acc, c| acc.join(c)))
}

/// `.dockerignore` patterns: the last one matching a path decides; `!` re-includes.
pub struct Ignore {
    patterns: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    pub fn load(ctx: &Path) -> Ignore {
        let text = std::fs::read_to_string(ctx.join(".dockerignore")).unwrap_or_default();
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (negate, p) = match l.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, l),
                };
                let segs = p
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(str::to_string)
                    .collect();
                (negate, segs)
            })
            .collect();
        Ignore { patterns }
    }

    /// Whether `rel` (a path relative to the context) is left out; a path inside an
    /// excluded directory is excluded too.
    pub fn excluded(&self, rel: &str) -> bool {
        let segs: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        let mut out = false;
        for (negate, pattern) in &self.patterns {
            let hit = (1..=segs.len()).any(|n| glob_segments(pattern, &segs[..n]));
            if hit {
                out = !negate;
            }
        }
        out
    }
}

/// Matches path segments against pattern segments (`**` spans any number of segments).
fn glob_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => {
            (0..=path.len()).any(|skip| glob_segments(rest, &path[skip..]))
        }
        Some((p, rest)) => match path.split_first() {
            Some((s, more)) => glob(p, s) && glob_segments(rest, more),
            None => false,
        },
    }
}

/// `*` and `?` within one path segment.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(&p, &t)
}

/// One source of a COPY/ADD, found in the context.
pub struct Source {
    pub path: PathBuf,
    /// Relative to the context.
    pub rel: String,
    pub is_dir: bool,
}

/// What a COPY/ADD copies and where.
pub struct Files {
    pub entries: Vec<Source>,
    /// For `--from`: each source as the archive the other image's container gave (its
    /// base name, whether it is a directory, the tar).
    pub from_image: Vec<(String, bool, Vec<u8>)>,
    /// Absolute, without a trailing slash (unless it is `/`).
    pub dest: String,
    /// The destination was written as a directory (`/dst/`, or several sources).
    pub dest_is_dir: bool,
    /// sha256 of the sources' names, modes and contents, and the flags: the cache key part.
    pub digest: String,
    pub chmod: Option<u32>,
    pub add: bool,
}

/// Every file under `dir` (relative paths), directories included, sorted.
fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let r = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let p = dir.join(&n);
        out.push(r.clone());
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            walk(&p, &r, out);
        }
    }
}

/// A COPY/ADD's words: its sources, its absolute destination and whether that was
/// written as a directory.
pub(crate) fn copy_words(
    ins: &Instruction,
    escape: char,
    vars: &BTreeMap<String, String>,
    workdir: &str,
) -> Result<(Vec<String>, String, bool)> {
    let words = match &ins.args {
        Args::Json(v) => v
            .iter()
            .map(|w| dockerfile::expand(w, vars, escape))
            .collect::<std::result::Result<Vec<_>, _>>(),
        Args::Shell(s) => dockerfile::expand_words(s, vars, escape),
    }
    .map_err(Error::invalid)?;
    if words.len() < 2 {
        return Err(Error::invalid(format!(
            "{} requires at least two arguments, but only one was provided. Destination could not be determined.",
            ins.keyword
        )));
    }
    let (dest_word, sources) = words.split_last().expect("two or more");
    let dest_is_dir = dest_word.ends_with('/') || dest_word == "." || dest_word.ends_with("/.");
    let dest_abs = if dest_word.starts_with('/') {
        dest_word.clone()
    } else {
        format!("{}/{dest_word}", workdir.trim_end_matches('/'))
    };
    if sources.len() > 1 && !dest_is_dir {
        return Err(Error::invalid(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            ins.keyword
        )));
    }
    Ok((sources.to_vec(), clean_abs(&dest_abs), dest_is_dir))
}

/// `--chmod`, as octal.
pub(crate) fn chmod_flag(ins: &Instruction) -> Result<Option<u32>> {
    match ins.flag("chmod") {
        Some(m) => u32::from_str_radix(m, 8)
            .map(Some)
            .map_err(|_| Error::invalid(format!("invalid chmod parameter: {m}"))),
        None => Ok(None),
    }
}

/// Finds a COPY/ADD's sources in the context and hashes them.
pub(crate) fn collect(
    ins: &Instruction,
    step: &StepCtx<'_>,
    vars: &BTreeMap<String, String>,
    workdir: &str,
) -> Result<Files> {
    let (sources, dest, dest_is_dir) = copy_words(ins, step.escape, vars, workdir)?;
    let mut all: Option<Vec<String>> = None;
    let mut entries = Vec::new();
    for src in &sources {
        if ins.keyword == "ADD" && (src.starts_with("http://") || src.starts_with("https://")) {
            return Err(Error::invalid(format!(
                "ADD {src}: remote URLs are not supported: berthd builds without access to hosts outside this machine"
            )));
        }
        let Some(path) = inside(step.ctx, src) else {
            return Err(Error::invalid(format!(
                "forbidden path outside the build context: {src} ()"
            )));
        };
        let rel = path
            .strip_prefix(step.ctx)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if src.contains(['*', '?']) {
            let listing = all.get_or_insert_with(|| {
                let mut v = Vec::new();
                walk(step.ctx, "", &mut v);
                v
            });
            let pattern: Vec<String> = rel.split('/').map(str::to_string).collect();
            let mut found = false;
            for candidate in listing.iter() {
                let segs: Vec<&str> = candidate.split('/').collect();
                if glob_segments(&pattern, &segs) && !step.ignore.excluded(candidate) {
                    let p = step.ctx.join(candidate);
                    let is_dir = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir());
                    entries.push(Source {
                        path: p,
                        rel: candidate.clone(),
                        is_dir,
                    });
                    found = true;
                }
            }
            if !found {
                return Err(Error::invalid(
                    "COPY failed: no source files were specified",
                ));
            }
            continue;
        }
        let meta = std::fs::symlink_metadata(&path)
            .ok()
            .filter(|_| rel.is_empty() || !step.ignore.excluded(&rel));
        let Some(meta) = meta else {
            return Err(Error::invalid(format!(
                "COPY failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
            )));
        };
        entries.push(Source {
            path,
            rel,
            is_dir: meta.is_dir(),
        });
    }
    if entries.len() > 1 && !dest_is_dir {
        return Err(Error::invalid(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            ins.keyword
        )));
    }
    let chmod = chmod_flag(ins)?;
    let mut hash = sha2::Sha256::new();
    hash.update(dest.as_bytes());
    hash.update(format!("{:?}{:?}", ins.flag("chown"), chmod).as_bytes());
    for e in &entries {
        let mut files = vec![e.rel.clone()];
        if e.is_dir {
            let mut inner = Vec::new();
            walk(&e.path, &e.rel, &mut inner);
            files.extend(inner.into_iter().filter(|r| !step.ignore.excluded(r)));
        }
        for rel in files {
            let p = step.ctx.join(&rel);
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            hash.update(rel.as_bytes());
            hash.update(m.mode().to_le_bytes());
            if m.file_type().is_symlink() {
                hash.update(std::fs::read_link(&p)?.to_string_lossy().as_bytes());
            } else if m.is_file() {
                let mut f = std::fs::File::open(&p)?;
                std::io::copy(&mut f, &mut hash)?;
            }
        }
    }
    Ok(Files {
        entries,
        from_image: vec![],
        dest,
        dest_is_dir,
        digest: format!("sha256:{:x}", hash.finalize()),
        chmod,
        add: ins.keyword == "ADD",
    })
}

fn clean_abs(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for s in p.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Whether an ADD source is a local archive it unpacks (tar, gzipped tar).
fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 262];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    (n >= 2 && head[..2] == [0x1f, 0x8b]) || (n >= 262 && &head[257..262] == b"ustar")
}

/// The tar that puts `files` in place, to be unpacked at `/` of the image's root: names are
/// the destination paths, owners `uid:gid`.
pub(crate) fn tar_for(
    files: &Files,
    into_dir: bool,
    uid: u32,
    gid: u32,
    ignore: &Ignore,
) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let dest = files.dest.trim_start_matches('/').to_string();
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            format!("{a}/{b}")
        }
    };
    let header = |m: &std::fs::Metadata, chmod: Option<u32>| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(chmod.unwrap_or(m.permissions().mode() & 0o7777));
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_mtime(m.mtime().max(0) as u64);
        h
    };
    let dir_entry =
        |b: &mut tar::Builder<Vec<u8>>, name: &str, m: &std::fs::Metadata| -> Result<()> {
            if name.is_empty() {
                return Ok(());
            }
            let mut h = header(m, None);
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, format!("{name}/"), std::io::empty())?;
            Ok(())
        };
    let add_path = |b: &mut tar::Builder<Vec<u8>>, src: &Path, name: &str| -> Result<()> {
        let m = std::fs::symlink_metadata(src)?;
        if m.is_dir() {
            return dir_entry(b, name, &m);
        }
        let mut h = header(&m, files.chmod);
        if m.file_type().is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, std::fs::read_link(src)?)?;
        } else if m.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            b.append_data(&mut h, name, std::fs::File::open(src)?)?;
        }
        Ok(())
    };
    for (base, is_dir, archive) in &files.from_image {
        // Entries are named from the source's base name; they are renamed into the
        // destination (a directory's content goes into it).
        let rename = |name: &str| -> Option<String> {
            let rest = name.strip_prefix(base.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            let rest = rest.trim_start_matches('/').trim_end_matches('/');
            Some(if *is_dir {
                join(&dest, rest)
            } else if into_dir {
                join(&dest, base)
            } else {
                dest.clone()
            })
        };
        let mut a = tar::Archive::new(&archive[..]);
        for entry in a.entries()? {
            let mut entry = entry?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(target) = rename(&name) else {
                continue;
            };
            if target.is_empty() {
                continue;
            }
            let mut h = entry.header().clone();
            h.set_uid(u64::from(uid));
            h.set_gid(u64::from(gid));
            if let Some(m) = files.chmod
                && h.entry_type() != tar::EntryType::Symlink
            {
                h.set_mode(m);
            }
            let link = entry.link_name()?.map(|l| l.into_owned());
            match (h.entry_type(), link) {
                (tar::EntryType::Link, Some(l)) => {
                    let l = rename(&l.to_string_lossy()).unwrap_or_default();
                    b.append_link(&mut h, &target, l)?;
                }
                (tar::EntryType::Symlink, Some(l)) => b.append_link(&mut h, &target, l)?,
                (tar::EntryType::Directory, _) => {
                    b.append_data(&mut h, format!("{target}/"), std::io::empty())?;
                }
                _ => b.append_data(&mut h, &target, &mut entry)?,
            }
        }
    }
    for e in &files.entries {
        if e.is_dir {
            // A directory's content goes into the destination (not the directory itself).
            let m = std::fs::metadata(&e.path)?;
            dir_entry(&mut b, &dest, &m)?;
            let mut inner = Vec::new();
            walk(&e.path, "", &mut inner);
            for rel in inner {
                let full_rel = if e.rel.is_empty() {
                    rel.clone()
                } else {
                    format!("{}/{rel}", e.rel)
                };
                if ignore.excluded(&full_rel) {
                    continue;
                }
                add_path(&mut b, &e.path.join(&rel), &join(&dest, &rel))?;
            }
        } else if files.add && is_archive(&e.path) {
            // ADD unpacks a local archive into the destination directory.
            let f = std::fs::File::open(&e.path)?;
            let mut r = std::io::BufReader::new(f);
            let gz = r.fill_buf()?.starts_with(&[0x1f, 0x8b]);
            let reader: Box<dyn Read> = if gz {
                Box::new(flate2::read::GzDecoder::new(r))
            } else {
                Box::new(r)
            };
            let mut a = tar::Archive::new(reader);
            for entry in a.entries()? {
                let mut entry = entry?;
                let name = entry.path()?.to_string_lossy().into_owned();
                let mut h = entry.header().clone();
                let target = join(&dest, name.trim_start_matches("./").trim_start_matches('/'));
                if target.split('/').any(|s| s == "..") {
                    return Err(Error::invalid(format!(
                        "ADD {}: archive entry {name:?} leaves the destination",
                        e.rel
                    )));
                }
                let link = entry.link_name()?.map(|l| l.into_owned());
                match (h.entry_type(), link) {
                    (tar::EntryType::Symlink, Some(l)) => {
                        b.append_link(&mut h, &target, l)?;
                    }
                    // A hard link names another entry of the archive: it moves with them.
                    (tar::EntryType::Link, Some(l)) => {
                        let l = l.to_string_lossy().into_owned();
                        let l = join(&dest, l.trim_start_matches("./").trim_start_matches('/'));
                        b.append_link(&mut h, &target, l)?;
                    }
                    _ => {
                        b.append_data(&mut h, &target, &mut entry)?;
                    }
                }
            }
        } else {
            let name = if into_dir {
                let base = e
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                join(&dest, &base)
            } else {
                dest.clone()
            };
            add_path(&mut b, &e.path, &name)?;
        }
    }
    Ok(b.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns() {
        let dir = std::env::temp_dir().join(format!("berth-ign-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(".dockerignore"),
            "# c\n*.log\nsecret/\n**/tmp\n!keep.log\n",
        )
        .unwrap();
        let i = Ignore::load(&dir);
        assert!(i.excluded("a.log") && !i.excluded("keep.log"));
        assert!(i.excluded("secret/x") && i.excluded("a/b/tmp/c"));
        assert!(!i.excluded("src/main.rs"));
        assert!(glob("f*.t?t", "file.txt") && !glob("*.txt", "a.md"));
        assert_eq!(inside(&dir, "../x"), None);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        assert_eq!(inside(&dir, "a/../b"), Some(dir.join("b")));
        // A symlink the client put in the context stays in the context.
        std::os::unix::fs::symlink("/", dir.join("h")).unwrap();
        assert_eq!(inside(&dir, "h/etc/shadow"), Some(dir.join("etc/shadow")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
