//! `send DIR`: the entries of a directory tree, in the order they are sent.
//!
//! Every directory (the root included, so empty ones are kept) comes before what it holds;
//! paths are relative, starting with the root's own name, `/`-separated, each component
//! checked as a plain name ([`super::check_name`]). Symbolic links are not followed: they are
//! skipped and counted. Entries are sorted by name, so a tree is always sent the same way.

use std::path::{Path, PathBuf};

use crate::error::CliError;

/// One entry to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The relative path the receiver is given.
    pub(crate) rel: String,
    /// Where it is here.
    pub(crate) path: PathBuf,
    /// A directory (sent without a body).
    pub(crate) dir: bool,
}

/// Most entries one tree may have (a bound on memory, not a wish).
const MAX_ENTRIES: usize = 1_000_000;

/// The entries of the tree at `root`, and how many symbolic links were skipped.
pub(crate) fn walk(root: &Path) -> Result<(Vec<Entry>, u64), CliError> {
    let input = |path: &Path, e: std::io::Error| CliError::Input { path: path.to_owned(), source: e };
    let name = component(root)?;
    let mut out = Vec::new();
    let mut skipped = 0;
    let mut stack = vec![(root.to_owned(), name)];
    while let Some((dir, rel)) = stack.pop() {
        out.push(Entry { rel: rel.clone(), path: dir.clone(), dir: true });
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| input(&dir, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| input(&dir, e))?;
        children.sort_by_key(std::fs::DirEntry::file_name);
        let mut subdirs = Vec::new();
        for child in children {
            let path = child.path();
            let kind = child.file_type().map_err(|e| input(&path, e))?;
            if kind.is_symlink() {
                skipped += 1;
                continue;
            }
            let child_rel = format!("{rel}/{}", component(&path)?);
            super::check_path(&child_rel).map_err(|e| input(&path, std::io::Error::other(e)))?;
            if kind.is_dir() {
                subdirs.push((path, child_rel));
            } else if kind.is_file() {
                out.push(Entry { rel: child_rel, path, dir: false });
            } else {
                skipped += 1;
            }
            if out.len() + subdirs.len() > MAX_ENTRIES {
                return Err(input(root, std::io::Error::other(format!("more than {MAX_ENTRIES} entries"))));
            }
        }
        // Depth first, in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok((out, skipped))
}

/// The last component of `path` as a checked plain name.
fn component(path: &Path) -> Result<String, CliError> {
    let input = |e: String| CliError::Input { path: path.to_owned(), source: std::io::Error::other(e) };
    let name =
        path.file_name().and_then(|n| n.to_str()).ok_or_else(|| input("no usable UTF-8 name".to_owned()))?;
    super::check_name(name).map_err(input)?;
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_in_order_with_empty_dirs_and_no_links() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("top");
        std::fs::create_dir_all(root.join("b/empty")).expect("dirs");
        std::fs::create_dir_all(root.join("a")).expect("dirs");
        std::fs::write(root.join("a/x"), b"x").expect("x");
        std::fs::write(root.join("z"), b"z").expect("z");
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc", root.join("link")).expect("symlink");
        let (entries, skipped) = walk(&root).expect("walk");
        let rels: Vec<(&str, bool)> = entries.iter().map(|e| (e.rel.as_str(), e.dir)).collect();
        assert_eq!(
            rels,
            [
                ("top", true),
                ("top/z", false),
                ("top/a", true),
                ("top/a/x", false),
                ("top/b", true),
                ("top/b/empty", true)
            ]
        );
        assert_eq!(skipped, u64::from(cfg!(unix)));
    }

    #[tokio::test]
    async fn version_2_paths_are_checked_per_component() {
        use super::super::{Header, HeaderError};
        for bad in ["a/../b", "/etc/passwd", "a//b", "a/.ssh/x", "a/b\\c"] {
            let encoded = Header { name: bad.to_owned(), size: 1, dir: false, resume: None }.encode();
            let read = Header::read(&mut encoded.as_slice(), 10).await;
            assert!(matches!(read, Err(HeaderError::Name(_))), "{bad}: {read:?}");
        }
        let good = Header { name: "a/b/c.txt".to_owned(), size: 1, dir: false, resume: None };
        let read = Header::read(&mut good.encode().as_slice(), 10).await.expect("read");
        assert_eq!(read, Some(good));
        let dir = Header { name: "a/b".to_owned(), size: 0, dir: true, resume: None };
        assert_eq!(Header::read(&mut dir.encode().as_slice(), 10).await.expect("read"), Some(dir));
    }
}
