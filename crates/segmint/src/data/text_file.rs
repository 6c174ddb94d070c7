//! Delimited text files as they are exported: compressed (`.gz`, `.zst`), Latin-1 encoded,
//! split by `,` `;` tab `|` or runs of spaces, with or without a header line. Every variant is
//! turned into a stream of UTF-8 CSV records for the one CSV reader.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::data::mapping::{Delimiter, Encoding, FileOptions};
use crate::error::{show_value, Error, Result};

/// The compression of a text file, by its last extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain text.
    None,
    /// gzip (`.gz`).
    Gzip,
    /// Zstandard (`.zst`).
    Zstd,
}

impl Compression {
    /// "cannot decompress ..." for messages.
    fn cannot(self) -> &'static str {
        match self {
            Compression::Gzip => "cannot decompress (a truncated or corrupt gzip file?)",
            Compression::Zstd => "cannot decompress (a truncated or corrupt zstd file?)",
            Compression::None => "cannot read",
        }
    }

    /// The compression of a path and the path's extension without it (`csv` for `x.csv.gz`).
    pub fn of(path: &Path) -> (Compression, String) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut parts: Vec<&str> = name.rsplit('.').collect();
        let c = match parts.first() {
            Some(&"gz") | Some(&"gzip") => Compression::Gzip,
            Some(&"zst") | Some(&"zstd") => Compression::Zstd,
            _ => Compression::None,
        };
        if c != Compression::None {
            parts.remove(0);
        }
        let ext = if parts.len() > 1 { parts[0] } else { "" };
        (c, ext.to_string())
    }
}

/// A delimited text file and how to read it.
#[derive(Debug, Clone)]
pub struct TextFile {
    /// The file.
    pub path: PathBuf,
    /// Its compression.
    pub compression: Compression,
    /// Its encoding.
    pub encoding: Encoding,
    /// Its delimiter (given, from the extension, or guessed from the header line).
    pub delimiter: Delimiter,
    /// Whether the first line names the columns.
    pub has_header: bool,
}

impl TextFile {
    /// Opens a text file: checks it can be read and settles the delimiter.
    pub fn open(path: &Path, options: &FileOptions) -> Result<TextFile> {
        let (compression, ext) = Compression::of(path);
        let mut file = TextFile {
            path: path.to_path_buf(),
            compression,
            encoding: options.encoding,
            delimiter: Delimiter::Byte(b','),
            has_header: !options.no_header,
        };
        file.delimiter = match options.delimiter {
            Some(d) => d,
            None if ext == "tsv" || ext == "tab" => Delimiter::Byte(b'\t'),
            None => guess_delimiter(&file.first_line()?),
        };
        Ok(file)
    }

    /// The decoded bytes of the file (decompressed, transcoded to UTF-8, whitespace runs turned
    /// into tabs).
    fn stream(&self) -> Result<Box<dyn Read + Send>> {
        let f = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let raw: Box<dyn Read + Send> = match self.compression {
            Compression::None => Box::new(f),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(f)
                    .map_err(|e| Error::format(&self.path, format!("not a zstd file: {e}")))?,
            ),
        };
        let raw = BufReader::with_capacity(1 << 20, raw);
        let decoded: Box<dyn Read + Send> = match self.encoding {
            Encoding::Utf8 => Box::new(raw),
            Encoding::Latin1 => Box::new(Latin1ToUtf8::new(raw)),
        };
        Ok(match self.delimiter {
            Delimiter::Whitespace => Box::new(WhitespaceToTabs::new(BufReader::with_capacity(
                1 << 20,
                decoded,
            ))),
            Delimiter::Byte(_) => decoded,
        })
    }

    /// A CSV reader over the decoded stream; `has_headers` as the file has them.
    pub fn csv_reader(&self) -> Result<csv::Reader<Box<dyn Read + Send>>> {
        let mut b = csv::ReaderBuilder::new();
        b.has_headers(self.has_header)
            .flexible(true)
            .buffer_capacity(1 << 20);
        match self.delimiter {
            Delimiter::Byte(d) => {
                b.delimiter(d);
            }
            Delimiter::Whitespace => {
                b.delimiter(b'\t').quoting(false);
            }
        }
        Ok(b.from_reader(self.stream()?))
    }

    /// The first line of the decoded file (without its line end), for guessing the delimiter.
    fn first_line(&self) -> Result<Vec<u8>> {
        let mut r = BufReader::new(self.stream()?);
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line)
            .map_err(|e| self.read_error(e))?;
        Ok(line)
    }

    /// An error while decompressing or reading.
    pub fn read_error(&self, e: std::io::Error) -> Error {
        match self.compression {
            Compression::None => Error::io(&self.path, e),
            c => Error::format(&self.path, format!("{}: {e}", c.cannot())),
        }
    }

    /// A CSV reading error; on a compressed file, an I/O error is a decompression error.
    pub fn csv_error(&self, e: csv::Error) -> Error {
        match (e.kind(), self.compression) {
            (csv::ErrorKind::Io(io), c) if c != Compression::None => {
                let line = e
                    .position()
                    .map(|p| format!("line {}: ", p.line()))
                    .unwrap_or_default();
                Error::format(&self.path, format!("{line}{}: {io}", c.cannot()))
            }
            _ => crate::data::reader::csv_error(&self.path, e),
        }
    }

    /// The column names: the header line (a UTF-8 byte-order mark removed, names trimmed), or
    /// `column_1`, `column_2`, ... for as many fields as the first line has.
    pub fn header(&self) -> Result<Vec<String>> {
        let mut rdr = self.csv_reader()?;
        let header = if self.has_header {
            rdr.byte_headers().map_err(|e| self.csv_error(e))?.clone()
        } else {
            let mut rec = csv::ByteRecord::new();
            rdr.read_byte_record(&mut rec)
                .map_err(|e| self.csv_error(e))?;
            rec
        };
        if header.is_empty() {
            return Err(Error::Empty {
                path: self.path.clone(),
                message: format!(
                    "file is empty (expected {})",
                    if self.has_header {
                        "a header line"
                    } else {
                        "a data line"
                    }
                ),
            });
        }
        if !self.has_header {
            return Ok((1..=header.len()).map(|i| format!("column_{i}")).collect());
        }
        let mut names = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let raw = if i == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            let s = std::str::from_utf8(raw).map_err(|_| {
                Error::format(
                    &self.path,
                    format!(
                        "header column {}: invalid UTF-8 {} (a Latin-1 export? pass --encoding latin1)",
                        i + 1,
                        show_value(&String::from_utf8_lossy(raw))
                    ),
                )
            })?;
            names.push(s.trim().to_string());
        }
        if names.iter().all(|n| n.is_empty()) {
            return Err(Error::Empty {
                path: self.path.clone(),
                message: "file has an empty header line".into(),
            });
        }
        Ok(names)
    }
}

/// The delimiter a header line uses most among `,` `;` tab and `|` (outside quotes); a comma
/// when it has none of them (a one-column file).
fn guess_delimiter(line: &[u8]) -> Delimiter {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
                c.1 += 1;
            }
        }
    }
    // the first of the most frequent: a comma wins ties
    let best = counts
        .iter()
        .fold((b',', 0), |acc, &c| if c.1 > acc.1 { c } else { acc });
    Delimiter::Byte(best.0)
}

/// Latin-1 (ISO-8859-1) bytes as UTF-8: bytes below 0x80 unchanged, others as two bytes.
struct Latin1ToUtf8<R> {
    inner: R,
    pending: Option<u8>,
    buf: Vec<u8>,
}

impl<R: Read> Latin1ToUtf8<R> {
    fn new(inner: R) -> Self {
        Latin1ToUtf8 {
            inner,
            pending: None,
            buf: vec![0; 1 << 16],
        }
    }
}

impl<R: Read> Read for Latin1ToUtf8<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        if let Some(b) = self.pending.take() {
            out[0] = b;
            n = 1;
        }
        // at most half of the remaining room, so every byte fits even when it doubles
        let room = (out.len() - n) / 2;
        if room == 0 {
            return Ok(n);
        }
        let want = room.min(self.buf.len());
        let got = self.inner.read(&mut self.buf[..want])?;
        for &b in &self.buf[..got] {
            if b < 0x80 {
                out[n] = b;
                n += 1;
            } else {
                out[n] = 0xC0 | (b >> 6);
                out[n + 1] = 0x80 | (b & 0x3F);
                n += 2;
            }
        }
        Ok(n)
    }
}

/// Lines whose fields are separated by runs of spaces or tabs, as tab-separated lines (leading
/// and trailing blanks and a `\r` before the line end removed).
struct WhitespaceToTabs<R> {
    inner: R,
    line: Vec<u8>,
    out: Vec<u8>,
    at: usize,
}

impl<R: BufRead> WhitespaceToTabs<R> {
    fn new(inner: R) -> Self {
        WhitespaceToTabs {
            inner,
            line: Vec::new(),
            out: Vec::new(),
            at: 0,
        }
    }
}

impl<R: BufRead> Read for WhitespaceToTabs<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.out.len() {
            self.line.clear();
            self.out.clear();
            self.at = 0;
            if self.inner.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(0);
            }
            let fields = self
                .line
                .split(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                .filter(|f| !f.is_empty());
            for (i, f) in fields.enumerate() {
                if i > 0 {
                    self.out.push(b'\t');
                }
                self.out.extend_from_slice(f);
            }
            self.out.push(b'\n');
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: impl Read) -> String {
        let mut s = String::new();
        let mut r = r;
        r.read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn latin1_and_whitespace() {
        let latin1: &[u8] = b"caf\xe9;\xa325\n";
        assert_eq!(read_all(Latin1ToUtf8::new(latin1)), "café;£25\n");
        let fixed: &[u8] = b" 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n";
        assert_eq!(
            read_all(WhitespaceToTabs::new(fixed)),
            "00001\t19970101\t1\t11.77\n00002\t19970112\t1\t12.00\n"
        );
    }

    #[test]
    fn delimiter_guess_and_compression() {
        assert_eq!(guess_delimiter(b"a;b;c\n"), Delimiter::Byte(b';'));
        assert_eq!(guess_delimiter(b"a\tb;c\td\n"), Delimiter::Byte(b'\t'));
        assert_eq!(guess_delimiter(b"\"a,b\";c\n"), Delimiter::Byte(b';'));
        assert_eq!(guess_delimiter(b"single\n"), Delimiter::Byte(b','));
        assert_eq!(
            Compression::of(Path::new("x/online.csv.gz")),
            (Compression::Gzip, "csv".to_string())
        );
        assert_eq!(
            Compression::of(Path::new("t.TSV.zst")),
            (Compression::Zstd, "tsv".to_string())
        );
        assert_eq!(
            Compression::of(Path::new("t.csv")),
            (Compression::None, "csv".to_string())
        );
    }
}
