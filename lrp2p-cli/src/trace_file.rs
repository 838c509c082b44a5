//! `--trace FILE`: the endpoint's event trace written to a file as JSON lines
//! (`docs/TRACE.md`), buffered, and flushed when the command ends (also on an error or
//! Ctrl-C, when the guard is dropped).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lrp2p_proto::trace::{JsonLines, TraceSink};

use crate::error::CliError;

/// The open trace file; flushed on [`finish`](Self::finish) or drop.
pub(crate) struct TraceFile {
    path: PathBuf,
    sink: Arc<JsonLines<BufWriter<File>>>,
}

impl TraceFile {
    /// Creates (or truncates) `path`, if given.
    pub(crate) fn create(path: Option<&Path>) -> Result<Option<TraceFile>, CliError> {
        let Some(path) = path else { return Ok(None) };
        let file =
            File::create(path).map_err(|source| CliError::Output { path: path.to_path_buf(), source })?;
        Ok(Some(TraceFile { path: path.to_path_buf(), sink: Arc::new(JsonLines::new(BufWriter::new(file))) }))
    }

    /// The sink for `ConnectionConfig::trace`.
    pub(crate) fn sink(file: Option<&TraceFile>) -> Option<Arc<dyn TraceSink>> {
        file.map(|f| f.sink.clone() as Arc<dyn TraceSink>)
    }

    /// Flushes the file; a write that failed on the way is an error (a full disk must not
    /// look like a complete trace).
    pub(crate) fn finish(self) -> Result<(), CliError> {
        let flushed = self.sink.flush();
        let failed = self.sink.errors();
        let source = match flushed {
            Err(e) => e,
            Ok(()) if failed > 0 => {
                std::io::Error::other(format!("{failed} trace lines could not be written"))
            }
            Ok(()) => return Ok(()),
        };
        Err(CliError::Output { path: self.path.clone(), source })
    }
}

impl Drop for TraceFile {
    fn drop(&mut self) {
        let _ = self.sink.flush();
    }
}
