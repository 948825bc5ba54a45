//! Request bodies, read as a stream: a counting reader with an idle timeout, and a streaming
//! `multipart/form-data` parser, so an upload of any size passes through a small buffer on its
//! way to disk.

use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use memchr::memmem;
use std::time::Duration;

/// How long a body may stall between two frames before the upload counts as abandoned.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest header block accepted for one multipart part.
const MAX_PART_HEADER: usize = 16 * 1024;

/// The client stopped sending: the connection broke or stalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFailure(pub String);

/// A request body read frame by frame, counting the bytes received.
pub struct BodyReader {
    /// The JSON body, once a handler parsed one (recorded with the request).
    pub json: Option<serde_json::Value>,
    inner: Incoming,
    received: u64,
    finished: bool,
    link: Option<(u64, tokio::time::Instant)>,
}

impl BodyReader {
    pub fn new(inner: Incoming) -> Self {
        Self {
            json: None,
            inner,
            received: 0,
            finished: false,
            link: None,
        }
    }

    /// Paces the body as if it crossed a link of `bytes_per_second` (none: unpaced).
    pub fn with_link(mut self, bytes_per_second: Option<u64>) -> Self {
        self.link = bytes_per_second.map(|rate| (rate, tokio::time::Instant::now()));
        self
    }

    /// Body bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next non-empty chunk, or `None` at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BodyFailure> {
        while !self.finished {
            let frame = tokio::time::timeout(BODY_IDLE_TIMEOUT, self.inner.frame())
                .await
                .map_err(|_| BodyFailure("request body stalled".into()))?;
            match frame {
                None => self.finished = true,
                Some(Err(error)) => return Err(BodyFailure(error.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.received += data.len() as u64;
                        if let Some((rate, start)) = self.link {
                            // Hold the chunk until a link of that rate would have delivered it;
                            // the client's send window then throttles it as a real link would.
                            let due = Duration::from_secs_f64(self.received as f64 / rate as f64);
                            tokio::time::sleep_until(start + due).await;
                        }
                        if !data.is_empty() {
                            return Ok(Some(data));
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// The whole body if it fits in `limit` bytes; `Ok(None)` when it is larger (the rest is
    /// drained so the connection stays usable).
    pub async fn read_limited(&mut self, limit: usize) -> Result<Option<Vec<u8>>, BodyFailure> {
        let mut data = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            if data.len() + chunk.len() > limit {
                self.drain(u64::MAX).await?;
                return Ok(None);
            }
            data.extend_from_slice(&chunk);
        }
        Ok(Some(data))
    }

    /// Reads and discards the rest of the body, up to `limit` more bytes.
    pub async fn drain(&mut self, limit: u64) -> Result<(), BodyFailure> {
        let start = self.received;
        while self.chunk().await?.is_some() {
            if self.received - start > limit {
                return Err(BodyFailure("request body too large to drain".into()));
            }
        }
        Ok(())
    }

    /// Reads until at least `bytes` have arrived in total or the body ends.
    pub async fn read_at_least(&mut self, bytes: u64) -> Result<(), BodyFailure> {
        while self.received < bytes {
            if self.chunk().await?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

/// Why a multipart body could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// The client stopped sending.
    Body(BodyFailure),
    /// The body is not well-formed multipart.
    Malformed(String),
}

impl From<BodyFailure> for MultipartError {
    fn from(failure: BodyFailure) -> Self {
        MultipartError::Body(failure)
    }
}

/// The headers of one multipart part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHeader {
    /// `name` from Content-Disposition: the form field.
    pub name: Option<String>,
    /// `filename` from Content-Disposition.
    pub filename: Option<String>,
    /// The part's Content-Type.
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Before the first boundary, or inside a part the caller skips.
    SeekingBoundary,
    /// Just after a boundary: `--` ends the body, CRLF starts a part.
    AfterBoundary,
    /// Reading a part's headers.
    Headers,
    /// Inside a part's content.
    Content,
    /// After the closing boundary.
    Done,
}

/// A streaming `multipart/form-data` parser: parts one after another, each part's content as
/// chunks, holding at most a frame plus a boundary's length in memory.
pub struct MultipartReader {
    delimiter: Vec<u8>,
    finder: memmem::Finder<'static>,
    buffer: Vec<u8>,
    start: usize,
    position: Position,
}

impl MultipartReader {
    /// A parser for a body with this Content-Type; `None` unless it is multipart with a boundary.
    pub fn new(content_type: &str) -> Option<Self> {
        let (mime, params) = content_type.split_once(';').unwrap_or((content_type, ""));
        if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        let boundary = params.split(';').find_map(|param| {
            let (key, value) = param.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| value.trim().trim_matches('"').to_owned())
        })?;
        if boundary.is_empty() || boundary.len() > 70 {
            return None;
        }
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        let finder = memmem::Finder::new(&delimiter).into_owned();
        Some(Self {
            delimiter,
            finder,
            // The first boundary has no CRLF before it; pretend it had one so every delimiter
            // looks alike.
            buffer: b"\r\n".to_vec(),
            start: 0,
            position: Position::SeekingBoundary,
        })
    }

    fn available(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    /// Pulls the next body chunk into the buffer; `false` at the end of the body.
    async fn fill(&mut self, body: &mut BodyReader) -> Result<bool, BodyFailure> {
        let Some(chunk) = body.chunk().await? else {
            return Ok(false);
        };
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(&chunk);
        Ok(true)
    }

    /// Advances to the next part and returns its headers; `None` after the closing boundary.
    /// Unread content of the current part is skipped.
    pub async fn next_part(
        &mut self,
        body: &mut BodyReader,
    ) -> Result<Option<PartHeader>, MultipartError> {
        loop {
            match self.position {
                Position::Done => return Ok(None),
                Position::SeekingBoundary | Position::Content => {
                    if let Some(at) = self.finder.find(self.available()) {
                        self.start += at + self.delimiter.len();
                        self.position = Position::AfterBoundary;
                        continue;
                    }
                    let keep = self.delimiter.len() - 1;
                    let len = self.available().len();
                    if len > keep {
                        self.start += len - keep;
                    }
                    if !self.fill(body).await? {
                        return Err(MultipartError::Malformed(
                            "body ends before the closing boundary".into(),
                        ));
                    }
                }
                Position::AfterBoundary => {
                    let available = self.available();
                    if available.len() < 2 {
                        if !self.fill(body).await? {
                            return Err(MultipartError::Malformed(
                                "body ends right after a boundary".into(),
                            ));
                        }
                        continue;
                    }
                    if available.starts_with(b"--") {
                        self.position = Position::Done;
                        body.drain(u64::MAX).await?;
                        return Ok(None);
                    }
                    // Transport padding (spaces, tabs) may follow a boundary before its CRLF.
                    let padding = available
                        .iter()
                        .take_while(|b| **b == b' ' || **b == b'\t')
                        .count();
                    if available.len() < padding + 2 {
                        if !self.fill(body).await? {
                            return Err(MultipartError::Malformed(
                                "body ends right after a boundary".into(),
                            ));
                        }
                        continue;
                    }
                    if &available[padding..padding + 2] != b"\r\n" {
                        return Err(MultipartError::Malformed(
                            "boundary not followed by CRLF".into(),
                        ));
                    }
                    self.start += padding + 2;
                    self.position = Position::Headers;
                }
                Position::Headers => {
                    if let Some(at) = memmem::find(self.available(), b"\r\n\r\n") {
                        let header = parse_part_header(&self.available()[..at])?;
                        self.start += at + 4;
                        self.position = Position::Content;
                        return Ok(Some(header));
                    }
                    // A part without headers starts its content right away.
                    if self.available().starts_with(b"\r\n") {
                        self.start += 2;
                        self.position = Position::Content;
                        return Ok(Some(PartHeader::default()));
                    }
                    if self.available().len() > MAX_PART_HEADER {
                        return Err(MultipartError::Malformed("part headers too long".into()));
                    }
                    if !self.fill(body).await? {
                        return Err(MultipartError::Malformed(
                            "body ends inside part headers".into(),
                        ));
                    }
                }
            }
        }
    }

    /// The next piece of the current part's content; `None` at the end of the part.
    pub async fn next_chunk(
        &mut self,
        body: &mut BodyReader,
    ) -> Result<Option<&[u8]>, MultipartError> {
        loop {
            if self.position != Position::Content {
                return Ok(None);
            }
            let available = self.available();
            if let Some(at) = self.finder.find(available) {
                let begin = self.start;
                self.start += at + self.delimiter.len();
                self.position = Position::AfterBoundary;
                if at == 0 {
                    return Ok(None);
                }
                return Ok(Some(&self.buffer[begin..begin + at]));
            }
            // Everything but a possible partial delimiter at the end is content.
            let keep = self.delimiter.len() - 1;
            if available.len() > keep {
                let begin = self.start;
                let end = self.buffer.len() - keep;
                self.start = end;
                return Ok(Some(&self.buffer[begin..end]));
            }
            if !self.fill(body).await? {
                return Err(MultipartError::Malformed("body ends inside a part".into()));
            }
        }
    }
}

fn parse_part_header(block: &[u8]) -> Result<PartHeader, MultipartError> {
    let text = std::str::from_utf8(block)
        .map_err(|_| MultipartError::Malformed("part headers are not UTF-8".into()))?;
    let mut header = PartHeader::default();
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-type") {
            header.content_type = Some(value.trim().to_owned());
        } else if name.eq_ignore_ascii_case("content-disposition") {
            for param in value.split(';').skip(1) {
                let Some((key, raw)) = param.split_once('=') else {
                    continue;
                };
                let unquoted = raw.trim().trim_matches('"').to_owned();
                match key.trim().to_ascii_lowercase().as_str() {
                    "name" => header.name = Some(unquoted),
                    "filename" => header.filename = Some(unquoted),
                    _ => {}
                }
            }
        }
    }
    Ok(header)
}
