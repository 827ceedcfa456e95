//! `tab86 serve` as a client sees it on the wire.

mod common;

use common::*;
use tab86_storage::serve::{ServeOptions, Server};

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = resp.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("")
}

fn setup() -> (TempDir, Server) {
    let dir = TempDir::new("serve");
    std::fs::create_dir_all(dir.path("www/chunks")).unwrap();
    std::fs::write(dir.path("www/data.bin"), b"0123456789abcdef").unwrap();
    std::fs::write(dir.path("www/chunks/aa"), b"chunk").unwrap();
    std::fs::write(dir.path("secret.txt"), b"do not serve").unwrap();
    let s = Server::start(&dir.path("www"), "127.0.0.1:0", ServeOptions::default()).unwrap();
    (dir, s)
}

#[test]
fn ranges_are_served_as_206_and_unsatisfiable_ones_as_416() {
    let (_d, s) = setup();
    let p = s.addr().port();
    let r = raw_http(
        p,
        "GET /data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=4-9\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 206"), "{r}");
    assert_eq!(header(&r, "content-range"), Some("bytes 4-9/16"));
    assert_eq!(body(&r), "456789");
    let r = raw_http(
        p,
        "GET /data.bin HTTP/1.1\r\nRange: bytes=-3\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(body(&r), "def");
    let r = raw_http(
        p,
        "GET /data.bin HTTP/1.1\r\nRange: bytes=16-\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 416"), "{r}");
    assert_eq!(header(&r, "content-range"), Some("bytes */16"));
    let r = raw_http(p, "GET /data.bin HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert_eq!(body(&r), "0123456789abcdef");
    assert_eq!(header(&r, "accept-ranges"), Some("bytes"));
    let r = raw_http(p, "HEAD /data.bin HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(header(&r, "content-length"), Some("16"));
    assert_eq!(body(&r), "");
}

#[test]
fn etags_give_304_and_chunks_are_immutable() {
    let (_d, s) = setup();
    let p = s.addr().port();
    let r = raw_http(p, "GET /chunks/aa HTTP/1.1\r\nConnection: close\r\n\r\n");
    let etag = header(&r, "etag").unwrap().to_string();
    assert!(header(&r, "cache-control").unwrap().contains("immutable"));
    let r = raw_http(
        p,
        &format!("GET /chunks/aa HTTP/1.1\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 304"), "{r}");
    assert_eq!(body(&r), "");
    let r = raw_http(
        p,
        "GET /chunks/aa HTTP/1.1\r\nIf-None-Match: \"other\"\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200") && body(&r) == "chunk", "{r}");
    let r = raw_http(p, "GET /data.bin HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(header(&r, "cache-control"), Some("no-cache"));
}

#[test]
fn nothing_outside_the_folder_is_served() {
    let (_d, s) = setup();
    let p = s.addr().port();
    for path in [
        "/../secret.txt",
        "/chunks/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/chunks",
        "/nope",
    ] {
        let r = raw_http(
            p,
            &format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n"),
        );
        assert!(r.starts_with("HTTP/1.1 404"), "{path}: {r}");
        assert!(!r.contains("do not serve"));
    }
    let r = raw_http(p, "DELETE /data.bin HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    let r = raw_http(p, "garbage\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let (_d, s) = setup();
    let r = raw_http(
        s.addr().port(),
        "GET /chunks/aa HTTP/1.1\r\n\r\nGET /data.bin HTTP/1.1\r\nRange: bytes=0-1\r\n\r\nGET /data.bin HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.matches("HTTP/1.1 ").count(), 3, "{r}");
    assert!(
        r.contains("chunk")
            && r.contains("\r\n\r\n01HTTP/1.1 200")
            && r.ends_with("0123456789abcdef")
    );
}

#[test]
fn a_page_folder_is_served_with_the_types_browsers_require() {
    let dir = TempDir::new("serve-page");
    std::fs::create_dir_all(dir.path("www/pkg")).unwrap();
    for f in [
        "index.html",
        "page.js",
        "page.css",
        "pkg/m.wasm",
        "pkg/m.mjs",
    ] {
        std::fs::write(dir.path(&format!("www/{f}")), f.as_bytes()).unwrap();
    }
    let s = Server::start(&dir.path("www"), "127.0.0.1:0", ServeOptions::default()).unwrap();
    let p = s.addr().port();
    let get = |path: &str| {
        raw_http(
            p,
            &format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n"),
        )
    };
    for (path, ctype, text) in [
        ("/", "text/html; charset=utf-8", "index.html"),
        ("/?image=x", "text/html; charset=utf-8", "index.html"),
        ("/page.js", "text/javascript; charset=utf-8", "page.js"),
        ("/page.css", "text/css; charset=utf-8", "page.css"),
        ("/pkg/m.wasm", "application/wasm", "pkg/m.wasm"),
        ("/pkg/m.mjs", "text/javascript; charset=utf-8", "pkg/m.mjs"),
    ] {
        let r = get(path);
        assert!(r.starts_with("HTTP/1.1 200"), "{path}: {r}");
        assert_eq!(header(&r, "content-type"), Some(ctype), "{path}");
        assert_eq!(body(&r), text, "{path}");
        assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    }
    // A folder without an index.html is still not listed.
    let r = get("/pkg/");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    // A CORS preflight for a Range request from another origin is allowed.
    let r = raw_http(
        p,
        "OPTIONS /pkg/m.wasm HTTP/1.1\r\nOrigin: http://other\r\nAccess-Control-Request-Headers: range\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 204"), "{r}");
    assert!(header(&r, "access-control-allow-headers").is_some_and(|v| v.contains("Range")));
    assert_eq!(header(&r, "content-length"), None);
    let r = get("/pkg/m.wasm");
    assert!(
        header(&r, "access-control-expose-headers").is_some_and(|v| v.contains("Content-Range"))
    );
}
