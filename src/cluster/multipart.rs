//! A `multipart/form-data` body with one file field, streamed from disk.
//!
//! The body is a short preamble, the file's bytes read as they are sent, and a short epilogue; its
//! exact length is known up front, so the request carries a `Content-Length` and the file never
//! sits in memory (a 200 MB module costs a few kilobytes of buffer per node).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// One file field as a streamed multipart body.
pub struct MultipartBody<R> {
    preamble: Vec<u8>,
    file: R,
    epilogue: Vec<u8>,
    file_len: u64,
    position: u64,
    file_read: u64,
    boundary: String,
}

impl MultipartBody<File> {
    /// Opens `path` for the field `field`, named `file_name` in the form.
    pub fn open(path: &Path, field: &str, file_name: &str) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self::new(file, len, field, file_name))
    }
}

impl<R: Read> MultipartBody<R> {
    /// Wraps `file` (of `file_len` bytes) as the field `field`.
    pub fn new(file: R, file_len: u64, field: &str, file_name: &str) -> Self {
        let boundary = format!(
            "rmpack-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        // Quotes and line breaks would end the header early; RS only needs a plausible name.
        let safe_name: String = file_name
            .chars()
            .map(|c| if c == '"' || c.is_control() { '_' } else { c })
            .collect();
        let preamble = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{safe_name}\"\r\nContent-Type: application/zip\r\n\r\n"
        )
        .into_bytes();
        let epilogue = format!("\r\n--{boundary}--\r\n").into_bytes();
        MultipartBody {
            preamble,
            file,
            epilogue,
            file_len,
            position: 0,
            file_read: 0,
            boundary,
        }
    }

    /// The `Content-Type` header value, with the boundary.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The exact body length: the `Content-Length` header value.
    pub fn content_length(&self) -> u64 {
        self.preamble.len() as u64 + self.file_len + self.epilogue.len() as u64
    }

    /// Bytes handed out so far.
    pub fn position(&self) -> u64 {
        self.position
    }
}

impl<R: Read> Read for MultipartBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let preamble_len = self.preamble.len() as u64;
        let n = if self.position < preamble_len {
            let start = self.position as usize;
            let n = buf.len().min(self.preamble.len() - start);
            buf[..n].copy_from_slice(&self.preamble[start..start + n]);
            n
        } else if self.file_read < self.file_len {
            let want = buf.len().min((self.file_len - self.file_read) as usize);
            let n = self.file.read(&mut buf[..want])?;
            if n == 0 {
                // The file shrank under us: the Content-Length already sent would be a lie.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file got shorter while it was being sent",
                ));
            }
            self.file_read += n as u64;
            n
        } else {
            let start = (self.position - preamble_len - self.file_len) as usize;
            if start >= self.epilogue.len() {
                return Ok(0);
            }
            let n = buf.len().min(self.epilogue.len() - start);
            buf[..n].copy_from_slice(&self.epilogue[start..start + n]);
            n
        };
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_preamble_file_epilogue_with_exact_length() {
        let data = vec![7u8; 10_000];
        let mut body = MultipartBody::new(&data[..], data.len() as u64, "module", "m\".zip");
        let expected_len = body.content_length();
        let content_type = body.content_type();
        let mut out = Vec::new();
        let mut buf = [0u8; 333];
        loop {
            let n = body.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out.len() as u64, expected_len);
        let boundary = content_type.split("boundary=").nth(1).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"module\"; filename=\"m_.zip\""));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
        let header_end = text.find("\r\n\r\n").unwrap() + 4;
        assert_eq!(&out[header_end..header_end + data.len()], &data[..]);
    }

    #[test]
    fn a_file_that_shrinks_is_an_error() {
        let data = [1u8; 10];
        let mut body = MultipartBody::new(&data[..], 20, "module", "m.zip");
        let mut out = Vec::new();
        assert!(body.read_to_end(&mut out).is_err());
    }
}
