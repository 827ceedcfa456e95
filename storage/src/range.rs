//! A single raw image file behind an HTTP URL, read with `Range` requests in
//! fixed pieces (through the same cache, read-ahead and retries as chunks).
//! The ETag seen at open is checked on every piece, so an image replaced on
//! the server mid-run fails loudly instead of mixing two images.

use crate::http::{Client, Url};
use crate::remote::{
    request_fault, status_fault, with_retries, Fault, FetchOptions, Key, Remote, Source,
};

struct RangeSource {
    url: Url,
    size: u64,
    piece: u64,
    etag: Option<String>,
}

impl Source for RangeSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn piece_size(&self) -> u64 {
        self.piece
    }

    fn key(&self, index: u64) -> Key {
        Key::Index(index)
    }

    fn fetch(&self, client: &mut Client, i: u64) -> Result<Vec<u8>, Fault> {
        let a = i * self.piece;
        let b = (a + self.piece).min(self.size) - 1;
        let len = (b - a + 1) as usize;
        let url = &self.url;
        let r = client
            .request("GET", url, Some((a, b)), len)
            .map_err(|e| request_fault(format_args!("{url} bytes {a}-{b}"), e))?;
        if r.status == 200 {
            return Err(Fault::permanent(format!(
                "{url}: the server ignored the Range request (status 200)"
            )));
        }
        if r.status != 206 {
            return Err(status_fault(r.status, &format!("{url} bytes {a}-{b}")));
        }
        if let (Some(want), Some(got)) = (&self.etag, r.header("etag")) {
            if want != got {
                return Err(Fault::permanent(format!(
                    "{url}: the image changed on the server (ETag {want} became {got})"
                )));
            }
        }
        let expect = format!("bytes {a}-{b}/");
        if !r
            .header("content-range")
            .is_some_and(|v| v.starts_with(&expect))
        {
            return Err(Fault::transient(format!(
                "{url}: Content-Range {:?} does not match bytes {a}-{b}",
                r.header("content-range")
            )));
        }
        if r.body.len() != len {
            return Err(Fault::transient(format!(
                "{url} bytes {a}-{b}: got {} bytes",
                r.body.len()
            )));
        }
        Ok(r.body)
    }

    fn identity(&self) -> Option<[u8; 32]> {
        None
    }

    fn describe(&self) -> String {
        format!("image {}", self.url)
    }
}

/// Opens a raw image at `url`: its size comes from HEAD (Content-Length), or
/// from a one-byte Range GET where HEAD is not allowed.
pub fn open(url: &str, opts: FetchOptions) -> Result<Remote, String> {
    let url = Url::parse(url)?;
    let mut client = Client::with_tls(opts.timeouts, opts.tls.clone());
    let (size, etag) = with_retries(&opts, None, || {
        let r = client
            .request("HEAD", &url, None, 0)
            .map_err(|e| request_fault(&url, e))?;
        let size = if r.status == 405 || r.status == 501 {
            // No HEAD: ask for the first byte; Content-Range carries the size.
            let g = client
                .request("GET", &url, Some((0, 0)), 1)
                .map_err(|e| request_fault(&url, e))?;
            if g.status != 206 {
                return Err(status_fault(g.status, &url.to_string()));
            }
            g.header("content-range")
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, n)| n.parse::<u64>().ok())
                .ok_or_else(|| Fault::permanent(format!("{url}: no size in Content-Range")))?
        } else if r.status == 200 {
            r.header("content-length")
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| Fault::permanent(format!("{url}: HEAD gave no Content-Length")))?
        } else {
            return Err(status_fault(r.status, &url.to_string()));
        };
        if r.header("accept-ranges")
            .is_some_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return Err(Fault::permanent(format!(
                "{url}: the server does not accept Range requests"
            )));
        }
        Ok((size, r.header("etag").map(str::to_string)))
    })?;
    if size == 0 {
        return Err(format!("{url}: the image is empty"));
    }
    Ok(Remote::new(
        Box::new(RangeSource {
            url,
            size,
            piece: opts.range_piece.max(512),
            etag,
        }),
        opts,
    ))
}
